"""Why a retrain ran: an alert, the schedule, or a person; kept on the run, in MLflow and on the version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "AlertArrival",
    "EarlierRun",
    "RetrainReason",
    "answered_already",
    "changed_since",
    "choose_rollout",
    "describe_trigger",
    "labels_to_wait_for",
    "stale_alerts",
]

Rollout = Literal["canary", "direct"]
#: The retrain DAG's ``rollout`` param: "auto" chooses by the run's reason (choose_rollout).
ROLLOUT_CHOICES = ("auto", "canary", "direct")

Trigger = Literal["alert", "schedule", "manual"]


class AlertArrival(BaseModel):
    """One alert of a run: what it is about, and when Airflow received it."""

    model_config = ConfigDict(frozen=True)

    alert_id: str
    model_version: str | None = None
    kind: str | None = None
    arrived_at: datetime | None = None


class RetrainReason(BaseModel):
    model_config = ConfigDict(frozen=True)

    trigger: Trigger
    summary: str
    alert_ids: list[str] = []
    alert_kinds: list[str] = []
    #: The model versions the alerts are about.
    alert_versions: list[str] = []
    #: Per model version, the end of the newest live alert's window about it (ISO, UTC).
    #: Per model version, when the condition its newest live alert reports began (ISO): the start of
    #: the first window that broke the rule, or the alert's window end where the alert does not say.
    live_since: dict[str, str] = {}
    alerts: list[AlertArrival] = []


def describe_trigger(
    run_type: str,
    asset_payloads: Iterable[Mapping[str, Any]],
    params: Mapping[str, Any],
    *,
    arrived: Sequence[datetime | None] = (),
) -> RetrainReason:
    """The reason of a DAG run, from its run type, the payloads of the asset events that triggered it
    (closeloop alerts) and its params; ``arrived``: when each asset event was received, if known.

    Several alerts can land in one run (Airflow folds asset events that
    arrive while a run is active into the next one); all of them are named.
    """
    payloads = list(asset_payloads)
    times = list(arrived) + [None] * (len(payloads) - len(arrived))
    alerts = [p for p in payloads if isinstance(p, Mapping) and "alert_id" in p]
    arrivals = [
        AlertArrival(
            alert_id=str(p["alert_id"]),
            model_version=None if p.get("model_version") is None else str(p["model_version"]),
            kind=None if p.get("kind") is None else str(p["kind"]),
            arrived_at=at,
        )
        for p, at in zip(payloads, times, strict=True)
        if isinstance(p, Mapping) and "alert_id" in p
    ]
    if alerts:
        ids = [str(a["alert_id"]) for a in alerts]
        kinds = sorted({str(a.get("kind")) for a in alerts})
        first = alerts[0]
        detail = (
            f"{first.get('kind')} alert {first['alert_id']}: {first.get('metric')}={first.get('value')} "
            f"vs threshold {first.get('threshold')} on version {first.get('model_version')}"
        )
        more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
        versions = sorted({str(a["model_version"]) for a in alerts if a.get("model_version") is not None})
        # Live alerts (the streaming job's, Prometheus's) judge the newest data; a drift
        # report's alert judges a day of it and waits for nothing.
        since: dict[str, str] = {}
        for a in alerts:
            if isinstance(a.get("window"), Mapping) and a.get("source", "flink") != "airflow":
                version, began = str(a.get("model_version")), str(a.get("since") or a["window"]["end"])
                if version not in since or _instant(began) > _instant(since[version]):
                    since[version] = began
        return RetrainReason(
            trigger="alert",
            summary=detail + more,
            alert_ids=ids,
            alert_kinds=kinds,
            alert_versions=versions,
            live_since=since,
            alerts=arrivals,
        )
    if run_type == "scheduled":
        return RetrainReason(trigger="schedule", summary="nightly schedule")
    settings = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return RetrainReason(trigger="manual", summary=f"manual run ({settings})" if settings else "manual run")


def _instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def changed_since(reason: RetrainReason, champion_version: str | None) -> str | None:
    """When the data a run started by a live alert about the champion began to change (ISO), else None.

    That is the start of the first window that broke the alert's rule: the
    run waits for labels since then, and its gate judges the newest of them.
    """
    return reason.live_since.get(champion_version or "") if reason.trigger == "alert" else None


def labels_to_wait_for(
    reason: RetrainReason,
    *,
    min_new_labels: int,
    alert_min_labels: int,
    champion_version: str | None,
    champion_trained_at: str | None,
) -> tuple[int, str | None]:
    """How many labeled examples the run waits for, and since when (ISO).

    By default: ``min_new_labels`` since the champion was trained. A run a
    live alert about the champion started waits for at least
    ``alert_min_labels`` since the condition began (the first window that
    broke the alert's rule), so that its dataset holds the data that set the
    alert off beyond the newest share the gate holds out. Those windows' labels
    count: they are the changed data too, and waiting for labels newer than
    the alert only delays the retrain. Alerts about other versions (folded into the same run) are old
    news and wait for nothing.
    """
    since = changed_since(reason, champion_version)
    if since and alert_min_labels > min_new_labels:
        return alert_min_labels, since
    return min_new_labels, champion_trained_at


def choose_rollout(
    requested: str, reason: RetrainReason, champion_version: str | None, *, model_policy: str | None = None
) -> tuple[Rollout, str]:
    """How a challenger the offline gate passes reaches the traffic, and why.

    ``requested`` is the run's param (its default, CLOSELOOP_RETRAIN_ROLLOUT,
    unless a person chose). "auto" is "direct" for a run a quality alert
    started: the champion is already failing, and each minute on it costs more
    than the risk of the challenger (the watch after the promotion guards
    that). Every other reason (the schedule, volume, drift without a drop in
    quality, a person) is "canary": the challenger serves a share until live
    feedback decides.

    A model's own policy (``model_policy``, "canary" or "direct": its
    registered model's closeloop.rollout tag) replaces the default for the
    runs nobody chose a rollout for: those an alert or the schedule started,
    and manual ones left at "auto". Without a champion there is nothing to
    compare a canary with: "direct".
    """
    if requested not in ROLLOUT_CHOICES:
        raise ValueError(f"rollout must be one of {', '.join(ROLLOUT_CHOICES)}, not {requested!r}")
    if champion_version is None:
        return "direct", "no champion to compare a canary with"
    chosen = reason.trigger == "manual" and requested != "auto"
    if model_policy in ("canary", "direct") and not chosen:
        return model_policy, f"the model's rollout policy is {model_policy}"  # type: ignore[return-value]
    if requested != "auto":
        return requested, f"rollout={requested}"  # type: ignore[return-value]
    if reason.trigger == "alert" and "quality" in reason.alert_kinds:
        return "direct", "a quality alert: the champion is already failing"
    why = {"alert": "alerts without a drop in quality", "schedule": "the schedule", "manual": "a manual run"}
    return "canary", why[reason.trigger]


def stale_alerts(reason: RetrainReason, champion_version: str | None) -> str | None:
    """Why an alert-triggered run has nothing to do, or None if it has.

    An alert judges the version that made the predictions. When none of a
    run's alerts is about the current champion, the champion changed since
    (a retrain or a rollback already answered, or the alert is a late window
    of an old version) and retraining again would answer a question nobody
    asks any more.
    """
    if reason.trigger != "alert" or champion_version is None or not reason.alert_versions:
        return None
    if champion_version in reason.alert_versions:
        return None
    versions = ", ".join(reason.alert_versions)
    return f"the alerts are about version {versions}, no longer the champion (version {champion_version} is)"


class EarlierRun(BaseModel):
    """A finished run of the same DAG, as far as answering alerts goes."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    state: str
    queued_at: datetime
    end_date: datetime | None = None
    #: (model version, alert kind) of every alert it was started for.
    answers: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def from_api(cls, run: Mapping[str, Any], why: Mapping[str, Any] | None) -> EarlierRun:
        """From Airflow's REST API: a DAG run, and the XCom of its ``why`` task (None if it has none)."""
        alerts = (why or {}).get("alerts") or []
        answers = frozenset(
            (str(a["model_version"]), str(a["kind"]))
            for a in alerts
            if a.get("model_version") and a.get("kind")
        )
        return cls(
            run_id=run["dag_run_id"],
            state=run["state"],
            queued_at=_instant(run.get("queued_at") or run["run_after"]),
            end_date=_instant(run["end_date"]) if run.get("end_date") else None,
            answers=answers,
        )


def answered_already(reason: RetrainReason, earlier: Iterable[EarlierRun]) -> str | None:
    """Why an alert-triggered run has nothing to answer, or None if it has.

    One condition is often seen twice (by the streaming job's rules and by
    Prometheus) or again while a retrain for it is queued or running. A
    completed run started for alerts about a model version and kind answers
    every alert about the same version and kind that arrived while it was
    queued or running, whichever source raised it.
    """
    if reason.trigger != "alert" or not reason.alerts:
        return None
    finished = [r for r in earlier if r.state == "success"]
    by: set[str] = set()
    for alert in reason.alerts:
        at = alert.arrived_at
        run = next(
            (
                r
                for r in finished
                if at is not None
                and (alert.model_version, alert.kind) in r.answers
                and r.queued_at <= at <= (r.end_date or at)
            ),
            None,
        )
        if run is None:
            return None
        by.add(run.run_id)
    return (
        f"every alert arrived while run {', '.join(sorted(by))}, about the same version and kind, "
        "was queued or running: that run answered them"
    )
