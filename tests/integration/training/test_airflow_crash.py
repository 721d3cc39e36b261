"""An alert survives a `kill -9` of Airflow's triggerer or scheduler: one retrain, no more, no less.

The triggerer reads closeloop.alerts (committing an alert's offset only once
its asset event is stored); the scheduler turns asset events into runs and
runs their tasks (LocalExecutor). Each is killed at its worst moment: the
triggerer while the alert is in flight, the scheduler while the retrain's
tasks run. After Airflow is restarted the alert must have led to exactly one
completed retrain: one new registered version, at most one promotion, and
any other run that names the alert skipped as answered.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import psutil
import pytest
from mlflow import MlflowClient

from closeloop.airflow_api import AirflowApi
from closeloop.config import Settings
from closeloop.events import AlertEvent, Window
from closeloop.events.types import utc_now
from closeloop.kafka.publish import publish_events
from closeloop.stack.manager import LocalStack
from closeloop.stack.process import ProcessRecord
from closeloop.stack.services.airflow import AirflowService
from tests.faults import FaultRecord, Stopwatch, report
from tests.waiting import NotYet, eventually
from training.promotion import CHAMPION, alias_version
from training.usecases import get_use_case

DIGITS = get_use_case("digits")
DAG = "retrain_digits"
#: A task in one of these states belongs to the scheduler (queued by it, or run by its executor).
_UNDER_WAY = {"scheduled", "queued", "running"}


def airflow_api(stack: LocalStack) -> AirflowApi:
    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    return airflow.api()


def kill_component(stack: LocalStack, component: str) -> list[int]:
    """SIGKILL the `airflow <component>` processes under the stack's `airflow standalone`."""
    record = ProcessRecord.load(stack.layout.run, AirflowService.name)
    assert record is not None and record.pids
    killed = []
    for pid in record.pids:
        for child in psutil.Process(pid).children(recursive=True):
            try:
                if component in child.cmdline()[1:3]:
                    child.kill()
                    killed.append(child.pid)
            except psutil.NoSuchProcess:
                continue
    assert killed, f"no airflow {component} process found"
    return killed


def runs_naming(api: AirflowApi, alert_id: str) -> list[dict]:
    return [
        r for r in api.runs(DAG, run_type="asset_triggered", limit=20) if alert_id in (r.get("note") or "")
    ]


def versions(client: MlflowClient) -> set[str]:
    return {v.version for v in client.search_model_versions(f"name='{DIGITS.model_name}'")}


@pytest.mark.parametrize("component", ["triggerer", "scheduler"])
def test_an_alert_leads_to_one_retrain_across_a_killed_airflow_component(
    settings: Settings, stack: LocalStack, clean_champion: str, component: str
) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri)
    before = versions(client)
    now = utc_now()
    # A drift report's alert: its retrain waits for no new labels, so it trains at once.
    alert = AlertEvent(
        alert_id=f"crash-{component}-{uuid.uuid4().hex[:8]}",
        model_name=DIGITS.model_name,
        model_version=clean_champion,
        kind="drift",
        rule="drift-report",
        metric="drift.share",
        value=0.9,
        threshold=0.5,
        window=Window(start=now - timedelta(days=1), end=now),
        source="airflow",
    )
    publish_events(settings.kafka_bootstrap, settings.topics.alerts, [alert])
    api = airflow_api(stack)
    if component == "scheduler":

        @eventually(timeout=300, interval=1)
        def retraining() -> None:
            for run in runs_naming(api, alert.alert_id):
                states = {t: ti["state"] for t, ti in api.task_instances(DAG, run["dag_run_id"]).items()}
                assert run["state"] not in ("success", "failed"), f"the run ended before the kill: {states}"
                if states.get("why") == "success" and _UNDER_WAY & set(states.values()):
                    return
            raise NotYet("the alert's retrain has no task under way yet")

        retraining()
    kill_component(stack, component)
    stack.down([AirflowService.name])
    stack.up([AirflowService.name])
    recovery = Stopwatch()
    api = airflow_api(stack)

    @eventually(timeout=600, interval=3)
    def finished() -> list[dict]:
        runs = runs_naming(api, alert.alert_id)
        if not runs:
            raise NotYet("no run names the alert yet")
        if busy := [r["dag_run_id"] for r in runs if r["state"] not in ("success", "failed")]:
            raise NotYet(f"runs {busy} still going")
        if not [r for r in runs if "skipped" not in r["note"] and r["state"] == "success"]:
            raise NotYet(f"no completed retrain yet: {[(r['state'], r['note']) for r in runs]}")
        return runs

    runs = finished()
    recovered_in = recovery.seconds()
    retrains = [r for r in runs if "skipped" not in r["note"]]
    new_versions = versions(client) - before
    report(
        FaultRecord(
            scenario=f"Airflow {component} kill -9 during an alert-driven retrain",
            unit="alerts",
            sent=1,
            acknowledged=1,
            found=min(len(retrains), 1),
            lost=0 if retrains else 1,
            counted_twice=max(0, len(new_versions) - 1),
            recovery_s=recovered_in,
        )
    )
    assert [r["state"] for r in retrains] == ["success"], [(r["state"], r["note"]) for r in runs]
    assert all(r["state"] == "success" for r in runs), [(r["state"], r["note"]) for r in runs]
    assert len(new_versions) == 1, f"one challenger trained, not {sorted(new_versions)}"
    assert alias_version(client, DIGITS.model_name, CHAMPION) in {clean_champion, *new_versions}
