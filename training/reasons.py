"""Why a retrain ran: an alert, the schedule, or a person; kept on the run, in MLflow and on the version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["RetrainReason", "describe_trigger"]

Trigger = Literal["alert", "schedule", "manual"]


class RetrainReason(BaseModel):
    model_config = ConfigDict(frozen=True)

    trigger: Trigger
    summary: str
    alert_ids: list[str] = []
    alert_kinds: list[str] = []

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
        return RetrainReason(trigger="alert", summary=detail + more, alert_ids=ids, alert_kinds=kinds)
    if run_type == "scheduled":
        return RetrainReason(trigger="schedule", summary="nightly schedule")
    settings = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return RetrainReason(trigger="manual", summary=f"manual run ({settings})" if settings else "manual run")
