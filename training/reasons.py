"""Why a retrain ran: an alert, the schedule, or a person; kept on the run, in MLflow and on the version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["RetrainReason", "describe_trigger", "stale_alerts"]

Trigger = Literal["alert", "schedule", "manual"]


class RetrainReason(BaseModel):
    model_config = ConfigDict(frozen=True)

    trigger: Trigger
    summary: str
    alert_ids: list[str] = []
    alert_kinds: list[str] = []
    #: The model versions the alerts are about.
    alert_versions: list[str] = []

    def tag(self) -> str:
        """One line for MLflow tags and the logs."""
        return self.summary


def describe_trigger(
    run_type: str, asset_payloads: Iterable[Mapping[str, Any]], params: Mapping[str, Any]
) -> RetrainReason:
    """The reason of a DAG run, from its run type, the payloads of the asset events that triggered it
    (closeloop alerts) and its params.

    Several alerts can land in one run (Airflow folds asset events that
    arrive while a run is active into the next one); all of them are named.
    """
    alerts = [p for p in asset_payloads if isinstance(p, Mapping) and "alert_id" in p]
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
        return RetrainReason(
            trigger="alert", summary=detail + more, alert_ids=ids, alert_kinds=kinds, alert_versions=versions
        )
    if run_type == "scheduled":
        return RetrainReason(trigger="schedule", summary="nightly schedule")
    settings = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return RetrainReason(trigger="manual", summary=f"manual run ({settings})" if settings else "manual run")


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
