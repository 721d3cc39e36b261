"""The promotion gate: does a challenger deserve to replace the champion?

Two questions, both on data the challenger never trained on:

1. Is it better where it matters now? On the recent holdout (the newest
   feedback) the challenger must beat the champion by at least ``margin`` of
   the use case's primary metric.
2. Did it forget the basics? On the base test set it must not be worse than
   the champion by more than ``tolerance``.

The first model of a use case has no champion to beat and passes. A forced
run passes whatever the scores, and says so in its reason.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GateDecision", "GatePolicy", "Scores", "decide"]


class GatePolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    margin: float = Field(
        default=0.0,
        ge=0.0,
        description="How much better on the holdout the challenger must be (CLOSELOOP_GATE_MARGIN).",
    )
    tolerance: float = Field(
        default=0.02,
        ge=0.0,
        description="How much worse on the base test set it may be (CLOSELOOP_GATE_TOLERANCE).",
    )


class Scores(BaseModel):
    """One model's primary metric on the holdout (None if the holdout is empty) and on the base test set."""

    model_config = ConfigDict(frozen=True)

    holdout: float | None
    test: float


class GateDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    passed: bool
    reason: str
    metric: str
    challenger: Scores
    champion: Scores | None = None

    def tags(self) -> dict[str, str]:
        """The decision as model-version tags, for the registry."""
        tags = {
            "closeloop.gate.passed": str(self.passed).lower(),
            "closeloop.gate.reason": self.reason,
            "closeloop.gate.metric": self.metric,
            "closeloop.gate.challenger_holdout": _text(self.challenger.holdout),
            "closeloop.gate.challenger_test": _text(self.challenger.test),
        }
        if self.champion is not None:
            tags["closeloop.gate.champion_holdout"] = _text(self.champion.holdout)
            tags["closeloop.gate.champion_test"] = _text(self.champion.test)
        return tags


def _text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def decide(
    *,
    metric: str,
    higher_is_better: bool,
    challenger: Scores,
    champion: Scores | None,
    policy: GatePolicy,
    force: bool = False,
) -> GateDecision:
    """The gate's verdict and a reason a person can read in the registry."""

    def gain(new: float, old: float) -> float:
        """How much better ``new`` is than ``old``, in the metric's good direction."""
        return new - old if higher_is_better else old - new

    def verdict(passed: bool, reason: str) -> GateDecision:
        if force and not passed:
            passed, reason = True, f"forced despite: {reason}"
        return GateDecision(
            passed=passed, reason=reason, metric=metric, challenger=challenger, champion=champion
        )

    if not all(math.isfinite(v) for v in (challenger.test, challenger.holdout or 0.0)):
        return verdict(False, f"the challenger's {metric} is not a number")
    if champion is None:
        return verdict(True, "no champion yet: the first model is promoted")
    forgot = gain(champion.test, challenger.test)
    if forgot > policy.tolerance:
        return verdict(
            False,
            f"{metric} on the base test set regressed by {forgot:.4f} "
            f"({challenger.test:.4f} vs the champion's {champion.test:.4f}), over the tolerance "
            f"{policy.tolerance}",
        )
    if challenger.holdout is None or champion.holdout is None:
        return verdict(False, "no recent feedback to compare on: the holdout is empty")
    better = gain(challenger.holdout, champion.holdout)
    if better < policy.margin or (policy.margin == 0.0 and better <= 0.0):
        return verdict(
            False,
            f"{metric} on the recent holdout is {challenger.holdout:.4f} vs the champion's "
            f"{champion.holdout:.4f}: not better by the margin {policy.margin}",
        )
    return verdict(
        True,
        f"{metric} on the recent holdout {challenger.holdout:.4f} vs the champion's {champion.holdout:.4f} "
        f"(+{better:.4f}); base test {challenger.test:.4f} vs {champion.test:.4f}",
    )
