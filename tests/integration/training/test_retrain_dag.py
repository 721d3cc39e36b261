"""retrain_<use case> end to end with `airflow dags test`: real lake, MLflow registry and Kafka.

The feedback the tests write lives under a lake prefix of their own
(the lake connection's prefix for the DAG run), so the runs see exactly it.
"""

from __future__ import annotations

from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.events import ModelUpdateEvent
from tests.integration.kafka_reading import end_offsets, read_to_end
from tests.integration.training.conftest import DagsTest
from tests.integration.training.lake_rows import write_labeled
from training.promotion import CHAMPION, PREVIOUS, alias_version
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
