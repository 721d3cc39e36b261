"""Is the closed loop stable? After recovery, the same drifted traffic must start no further retrain.

A new champion trained on the drift it answers must not keep alerting about
that drift: its reference profile describes the recent feedback it serves.
The demo's `--settle` phase keeps the drifted traffic going on the stack's
own streaming job and records what happened; this module judges it.

Unstable: an alert about a condition (quality, drift, latency, errors) of a
version after the replaced one, or a retrain run that such an alert started.
The feedback-volume rule is a policy, not a condition: it retrains every N
new labels by design (flink/alert_rules.yaml), so its runs are reported as
such and not held against the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from closeloop.demo.timeline import WindowPoint

__all__ = ["POLICY_KINDS", "RunOutcome", "Stability", "run_outcome"]

#: What an alert-triggered retrain run did with its alerts, read from its `why` task:
#: "answered" (skipped), "retrained", "volume" (retrained for the feedback-volume policy
#: alone) or "undecided".
RunOutcome = str

#: Alert kinds that are policies rather than conditions of the model.
POLICY_KINDS = frozenset({"feedback_volume"})


def run_outcome(tasks: dict[str, dict[str, Any]], reason: dict[str, Any] | None = None) -> RunOutcome:
    """A run whose `why` skipped found its alerts answered; one whose `why` passed retrains.

    ``reason`` is what `why` returned (its XCom): a run whose alerts about the
    champion are all policy alerts is "volume". Its alerts about older versions
    (batched into the same run) are answered already and do not count.
    """
    state = tasks.get("why", {}).get("state")
    if state == "skipped":
        return "answered"
    if state in ("success", "failed", "upstream_failed"):
        # A `why` that failed still meant to retrain: it is not an answered alert.
        return "volume" if state == "success" and _policy_only(reason or {}) else "retrained"
    return "undecided"


def _policy_only(reason: dict[str, Any]) -> bool:
    alerts = reason.get("alerts") or []
    champion = reason.get("champion_version")
    current = {a.get("kind") for a in alerts if a.get("model_version") == champion}
    kinds = current or set(reason.get("alert_kinds") or [])
    return bool(kinds) and kinds <= POLICY_KINDS


@dataclass
class Stability:
    """What the drifted traffic after recovery set off, and whether that is nothing."""

    started: datetime
    seconds: float
    champion: str
    #: The champion the loop replaced: alerts about it are answered by the loop.
    replaced: str
    #: (source, rule, model version, kind) of every alert seen after the loop closed.
    alerts: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: Alert-triggered runs since the loop's alert, by outcome (the loop's own run left out).
    runs: dict[str, RunOutcome] = field(default_factory=dict)
    #: Versions a model-update event promoted after the loop closed.
    promotions: list[str] = field(default_factory=list)
    #: The stack job's windows of the champion, after the loop closed.
    windows: list[WindowPoint] = field(default_factory=list)

    @property
    def retrains(self) -> list[str]:
        """Runs that retrain for a condition: the instability.

        A run still undecided at the end (queued behind another) is not one: the
        alerts it holds are in ``alerts``, and one about a condition of the new
        champion makes the loop unstable by itself.
        """
        return sorted(run for run, outcome in self.runs.items() if outcome == "retrained")

    @property
    def volume_retrains(self) -> list[str]:
        return sorted(run for run, outcome in self.runs.items() if outcome == "volume")

    @property
    def condition_alerts(self) -> list[tuple[str, str, str, str]]:
        """Alerts about a condition of a version newer than the replaced champion."""
        return [a for a in self.alerts if a[2] != self.replaced and a[3] not in POLICY_KINDS]

    @property
    def stable(self) -> bool:
        return not self.retrains and not self.condition_alerts

    @property
    def max_psi(self) -> float | None:
        values = [w.max_psi for w in self.windows if w.max_psi is not None]
        return max(values) if values else None

    @property
    def quality(self) -> float | None:
        """The champion's live quality over the windows, weighted by their labeled examples."""
        judged = [(w.quality, w.labeled) for w in self.windows if w.quality is not None and w.labeled]
        labeled = sum(n for _, n in judged)
        return sum(q * n for q, n in judged) / labeled if labeled else None

    def why_not(self) -> str:
        parts = []
        if self.condition_alerts:
            named = ", ".join(f"{r} on version {v} ({s})" for s, r, v, _ in self.condition_alerts)
            parts.append(f"alerts about the new champion: {named}")
        if self.retrains:
            parts.append(f"{len(self.retrains)} more retrain run(s) ({', '.join(self.retrains)})")
        if self.promotions:
            parts.append(f"promotion(s) of version(s) {', '.join(self.promotions)}")
        return f"{self.seconds:.0f} s of the same drifted traffic after recovery set off " + "; ".join(parts)

    def summary(self) -> str:
        psi = "n/a" if self.max_psi is None else f"{self.max_psi:.3f}"
        quality = "n/a" if self.quality is None else f"{self.quality:.3f}"
        answered = sum(1 for outcome in self.runs.values() if outcome == "answered")
        return (
            f"{self.seconds:.0f} s of drifted traffic on version {self.champion}: "
            f"{len(self.alerts)} alert(s), {len(self.condition_alerts)} about the new champion; "
            f"{len(self.retrains)} retrain(s), {answered} run(s) skipped as answered, "
            f"{len(self.volume_retrains)} for the feedback-volume policy, "
            f"{len(self.promotions)} promotion(s); "
            f"live quality {quality}, max PSI {psi}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat(),
            "seconds": self.seconds,
            "champion": self.champion,
            "replaced": self.replaced,
            "stable": self.stable,
            "alerts": [{"source": s, "rule": r, "version": v, "kind": k} for s, r, v, k in self.alerts],
            "condition_alerts": len(self.condition_alerts),
            "runs": self.runs,
            "retrains": self.retrains,
            "volume_retrains": self.volume_retrains,
            "promotions": self.promotions,
            "quality": self.quality,
            "max_psi": self.max_psi,
            "windows": len(self.windows),
        }
