"""An alert-driven retrain for each use case of raw inputs: a model that a drift broke, retrained on the
drifted feedback in the lake and promoted.

The alert goes to closeloop.alerts as the streaming job sends it; Airflow's
watcher starts `retrain_<name>`, which waits for the labels since the
condition began, trains, gates and promotes. The model is served from what
MLflow saved (skops, trusting the use case's own estimator class), and the
gate compares the use case's primary metric, whichever way is better.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow import MlflowClient

from closeloop.airflow_api import AirflowApiError
from closeloop.config import Settings
from closeloop.events import AlertEvent, Window
from closeloop.events.types import utc_now
from closeloop.kafka.publish import publish_events
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from tests.integration.training.conftest import register_clean_champion
from tests.integration.training.lake_rows import write_labeled
from tests.waiting import NotYet, eventually
from training.promotion import CHAMPION, PREVIOUS, alias_version
from training.usecases import UseCase, get_use_case

#: More than the labels an alert-driven retrain waits for (CLOSELOOP_ALERT_RETRAIN_MIN_LABELS, 500).
FEEDBACK = 520


def _score(use_case: UseCase, model_uri: str, rows: pd.DataFrame) -> float:
    """The primary metric of the registered ``model_uri`` on ``rows``, loaded as the gateway loads it."""
    return use_case.evaluate(mlflow.pyfunc.load_model(model_uri), rows)[use_case.primary_metric]


@pytest.mark.parametrize(
    ("name", "kind", "broken"),
    # The bar for a drift that visibly degrades live quality. Shapes goes round this loop in
    # the demo's test (tests/integration/demo), with its alert, retrain and promotion.
    [("ocr", "blur", 0.3), ("speech", "noise", 0.3)],
)
def test_an_alert_retrains_a_model_on_drifted_feedback_and_promotes_it(
    settings: Settings, stack: LocalStack, name: str, kind: str, broken: float
) -> None:
    use_case = get_use_case(name)
    client = MlflowClient(settings.mlflow_tracking_uri)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    clean = register_clean_champion(settings, name)
    base = use_case.base_data()
    began = utc_now() - timedelta(seconds=30)
    feedback = use_case.drift(base.train.sample(FEEDBACK, random_state=7), kind, 1.0, seed=7)
    # What the clean model made of the inputs is not what the retrain learns from: the corrections are.
    write_labeled(
        settings,
        use_case,
        feedback,
        [""] * len(feedback),
        prefix=settings.lake_prefix,
        model_version=clean,
        spacing=timedelta(milliseconds=20),
    )
    metric = f"quality.{use_case.primary_metric}"
    alert = AlertEvent(
        alert_id=f"{name}-{uuid.uuid4().hex[:8]}",
        model_name=use_case.model_name,
        model_version=clean,
        kind="quality",
        rule=f"test-{name}",
        metric=metric,
        value=0.9 if not use_case.higher_is_better else 0.1,
        threshold=broken,
        window=Window(start=began, end=began + timedelta(seconds=10)),
        since=began,
    )
    publish_events(settings.kafka_bootstrap, settings.topics.alerts, [alert])
    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    api, dag = airflow.api(), f"retrain_{name}"

    @eventually(timeout=180, interval=2)
    def triggered_run() -> str:
        # By the alerts its `why` task read: a run can answer other alerts too, and its note names one.
        for run in api.runs(dag, run_type="asset_triggered", limit=10):
            try:
                why = api.xcom(dag, run["dag_run_id"], "why")
            except AirflowApiError:
                continue  # not decided yet
            if alert.alert_id in (why or {}).get("alert_ids", []):
                return run["dag_run_id"]
        raise NotYet(f"no asset-triggered {dag} run has read the alert yet")

    finished = api.wait(dag, triggered_run(), timeout_s=420)
    assert finished["state"] == "success", finished

    champion = alias_version(client, use_case.model_name, CHAMPION)
    assert champion is not None and int(champion) > int(clean), finished.get("note")
    assert alias_version(client, use_case.model_name, PREVIOUS) == clean
    tags = client.get_model_version(use_case.model_name, champion).tags
    assert tags["closeloop.gate.passed"] == "true", tags["closeloop.gate.reason"]
    assert alert.alert_id in tags["closeloop.reason"], tags
    challenger = float(tags["closeloop.gate.challenger_holdout"])
    incumbent = float(tags["closeloop.gate.champion_holdout"])
    assert use_case.meets(challenger, incumbent) and challenger != incumbent, tags

    drifted = use_case.drift(base.test.head(100), kind, 1.0, seed=1)
    before = _score(use_case, f"models:/{use_case.model_name}/{clean}", drifted)
    after = _score(use_case, f"models:/{use_case.model_name}@{CHAMPION}", drifted)
    assert use_case.recovery_threshold is not None
    assert not use_case.meets(before, broken) and use_case.meets(after, use_case.recovery_threshold), (
        before,
        after,
    )
