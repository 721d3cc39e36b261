"""retrain_<use case> end to end with `airflow dags test`: real lake, MLflow registry and Kafka.

The feedback the tests write lives under a lake prefix of their own
(the lake connection's prefix for the DAG run), so the runs see exactly it.
The rollout's live sensors read closeloop.metrics; here a thread stands in for
the streaming job and publishes the windows once the run has made its
promotion. Canaries judged on a real job's windows of real traffic are in
test_canary_live.py (worse) and the shapes demo's test (better).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.events import MetricsEvent, ModelUpdateEvent
from closeloop.kafka.publish import publish_events
from tests.integration.kafka_reading import end_offsets, read_to_end
from tests.integration.training.conftest import DagsTest
from tests.integration.training.lake_rows import write_labeled
from tests.metrics_windows import metrics_window
from tests.waiting import NotYet, eventually
from training.promotion import CANARY, CHAMPION, PREVIOUS, alias_version
from training.usecases import get_use_case
from training.usecases.digits.drift import drift_frame

DIGITS = get_use_case("digits")


def _drifted_feedback(settings: Settings, prefix: str, rows: int = 400) -> int:
    """Digits drifted by stroke thickness as feedback; returns how many."""
    base = DIGITS.base_data().train.sample(rows, random_state=7)
    drifted = drift_frame(base, "thickness", 1.0, seed=7)
    write_labeled(settings, DIGITS, drifted, [0] * rows, prefix=prefix)
    return rows


def _model_updates(settings: Settings, start: dict, model_name: str) -> list[ModelUpdateEvent]:
    events = read_to_end(settings.kafka_bootstrap, settings.topics.model_updates, start)
    return [e for e in events if isinstance(e, ModelUpdateEvent) and e.model_name == model_name]


def test_a_better_challenger_on_drifted_feedback_is_promoted(
    settings: Settings, dags_test: DagsTest, lake_prefix: str, clean_champion: str
) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri)
    written = _drifted_feedback(settings, lake_prefix)
    start = end_offsets(settings.kafka_bootstrap, settings.topics.model_updates)

    dags_test("retrain_digits", {"window_days": 1}, lake_prefix=lake_prefix)

    champion = alias_version(client, DIGITS.model_name, CHAMPION)
    assert champion is not None and int(champion) > int(clean_champion)
    assert alias_version(client, DIGITS.model_name, PREVIOUS) == clean_champion
    version = client.get_model_version(DIGITS.model_name, champion)
    tags = version.tags
    assert tags["closeloop.gate.passed"] == "true", tags["closeloop.gate.reason"]
    assert float(tags["closeloop.gate.challenger_holdout"]) > float(tags["closeloop.gate.champion_holdout"])
    assert tags["closeloop.reason"].startswith("manual run")
    run = client.get_run(version.run_id)
    assert run.data.params["rows_feedback_train"] == str(written - round(written * 0.3))
    assert run.data.params["rows_holdout"] == str(round(written * 0.3))
    assert run.data.params["dataset_uri"] == tags["closeloop.dataset"]
    assert "reference_profile.json" in {a.path for a in client.list_artifacts(version.run_id)}

    (update,) = _model_updates(settings, start, DIGITS.model_name)
    assert (update.version, update.previous_version, update.alias) == (champion, clean_champion, "champion")
    assert update.reference_profile == tags["closeloop.reference_profile"]


def test_a_failing_gate_leaves_the_alias_where_it_was(
    settings: Settings, dags_test: DagsTest, lake_prefix: str, clean_champion: str
) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri)
    _drifted_feedback(settings, lake_prefix)
    start = end_offsets(settings.kafka_bootstrap, settings.topics.model_updates)
    before = {v.version for v in client.search_model_versions(f"name='{DIGITS.model_name}'")}

    # No challenger is better by a whole accuracy point of 1.0.
    dags_test("retrain_digits", {"window_days": 1, "margin": 1.0}, lake_prefix=lake_prefix)

    (challenger,) = {v.version for v in client.search_model_versions(f"name='{DIGITS.model_name}'")} - before
    assert alias_version(client, DIGITS.model_name, CHAMPION) == clean_champion
    tags = client.get_model_version(DIGITS.model_name, challenger).tags
    assert tags["closeloop.gate.passed"] == "false"
    assert "not better by the margin 1.0" in tags["closeloop.gate.reason"]
    assert _model_updates(settings, start, DIGITS.model_name) == []


# The live rule the rollout tests ask for: four windows of 100 labeled examples each are enough.
LIVE = {"live_min_labeled": 200, "live_min_windows": 3, "live_margin": 0.02, "window_days": 1}
FAST_POLL = {"CLOSELOOP_LIVE_POLL_S": "1"}
WINDOW = timedelta(seconds=10)


def _windows(version: str, first: datetime, accuracies: list[float]) -> list[MetricsEvent]:
    return [
        metrics_window(
            DIGITS.model_name, version, first + i * WINDOW, {"accuracy": a}, labeled=100, seconds=10
        )
        for i, a in enumerate(accuracies)
    ]


@contextmanager
def _streaming_job(
    settings: Settings, publish: Callable[[MlflowClient], list[MetricsEvent]]
) -> Iterator[None]:
    """Runs ``publish`` in a thread beside the DAG run (it waits for what the run does, then returns
    the windows to put on closeloop.metrics); its failure fails the test."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            events = publish(MlflowClient(settings.mlflow_tracking_uri))
            publish_events(settings.kafka_bootstrap, settings.topics.metrics, events)
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    thread.join(timeout=60)
    if errors:
        raise errors[0]


def test_a_canary_without_live_labels_times_out_and_is_dropped_saying_why(
    settings: Settings, dags_test: DagsTest, lake_prefix: str, clean_champion: str
) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri)
    _drifted_feedback(settings, lake_prefix)
    before = {v.version for v in client.search_model_versions(f"name='{DIGITS.model_name}'")}

    conf = {**LIVE, "rollout": "canary", "canary_minutes": 0.1}
    run = dags_test("retrain_digits", conf, FAST_POLL, lake_prefix=lake_prefix, check=False)

    (canary,) = {v.version for v in client.search_model_versions(f"name='{DIGITS.model_name}'")} - before
    assert alias_version(client, DIGITS.model_name, CHAMPION) == clean_champion
    assert alias_version(client, DIGITS.model_name, CANARY) is None
    tags = client.get_model_version(DIGITS.model_name, canary).tags
    assert tags["closeloop.live.passed"] == "undecided"
    reason = tags["closeloop.live.reason"]
    assert reason.startswith("no decision by ") and f"{canary} has 0 of 200 labeled examples" in reason
    assert reason in run.stdout + run.stderr, "the failed task says why"


def test_a_direct_promotion_worse_live_than_its_predecessor_is_rolled_back(
    settings: Settings, dags_test: DagsTest, lake_prefix: str, clean_champion: str
) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri)
    _drifted_feedback(settings, lake_prefix)
    start = end_offsets(settings.kafka_bootstrap, settings.topics.model_updates)

    def after_promotion(client: MlflowClient) -> list[MetricsEvent]:
        @eventually(timeout=300, interval=0.5)
        def promoted() -> str:
            version = alias_version(client, DIGITS.model_name, CHAMPION)
            if version == clean_champion:
                raise NotYet("not promoted yet")
            return str(version)

        version = promoted()
        # Seen within a second of the promotion: the predecessor's windows end before it, the new ones after.
        seen = datetime.now(UTC)
        return _windows(clean_champion, seen - 4 * WINDOW, [0.90, 0.91, 0.89]) + _windows(
            version, seen + WINDOW, [0.50, 0.52, 0.49]
        )

    with _streaming_job(settings, after_promotion):
        dags_test(
            "retrain_digits",
            {**LIVE, "rollout": "direct", "watch_minutes": 2},
            FAST_POLL,
            lake_prefix=lake_prefix,
        )

    promotion, rollback = _model_updates(settings, start, DIGITS.model_name)
    assert promotion.previous_version == clean_champion
    assert (rollback.version, rollback.previous_version) == (clean_champion, promotion.version)
    assert rollback.reason.startswith("rollback by the watch of retrain_digits/")
    assert alias_version(client, DIGITS.model_name, CHAMPION) == clean_champion
    assert alias_version(client, DIGITS.model_name, PREVIOUS) == promotion.version
    tags = client.get_model_version(DIGITS.model_name, promotion.version).tags
    assert tags["closeloop.watch.passed"] == "false"
    assert (
        f"champion {promotion.version} is worse than {clean_champion} was" in tags["closeloop.watch.reason"]
    )
