"""An alert about a version that is no longer the champion starts a retrain run that does nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.events import AlertEvent, Window
from closeloop.events.types import utc_now
from closeloop.kafka.publish import publish_events
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from tests.waiting import NotYet, eventually
from training.promotion import CHAMPION, alias_version
from training.usecases import get_use_case

DIGITS = get_use_case("digits")


def test_a_stale_alert_skips_the_retrain(settings: Settings, stack: LocalStack, clean_champion: str) -> None:
    now = utc_now()
    alert = AlertEvent(
        alert_id=f"stale-{uuid.uuid4().hex[:8]}",
        model_name=DIGITS.model_name,
        model_version="0",  # no registered version is 0: certainly not the champion
        kind="quality",
        rule="accuracy-drop",
        metric="quality.accuracy",
        value=0.4,
        threshold=0.85,
        window=Window(start=now - timedelta(minutes=1), end=now),
    )
    publish_events(settings.kafka_bootstrap, settings.topics.alerts, [alert])
    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    api = airflow.api()

    @eventually(timeout=180, interval=3)
    def triggered_run() -> str:
        for run in api.runs("retrain_digits", run_type="asset_triggered", limit=10):
            if alert.alert_id in (run.get("note") or ""):
                return run["dag_run_id"]
        raise NotYet("no asset-triggered retrain_digits run names the alert yet")

    run_id = triggered_run()
    finished = api.wait("retrain_digits", run_id, timeout_s=300)
    note = finished["note"]
    assert (
        f"skipped: the alerts are about version 0, no longer the champion (version {clean_champion} is)"
        in note
    )
    states = {task: ti["state"] for task, ti in api.task_instances("retrain_digits", run_id).items()}
    assert set(states.values()) == {"skipped"}, states
    assert (
        alias_version(MlflowClient(settings.mlflow_tracking_uri), DIGITS.model_name, CHAMPION)
        == clean_champion
    )
