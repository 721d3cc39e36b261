"""A retried train task registers one version: the one its run completed, or a new one if none was."""

from __future__ import annotations

import uuid

from mlflow import MlflowClient

from closeloop.config import Settings
from training.train import TRAINED_BY_TAG, TrainedVersion, train_on_base_data
from training.usecases import get_use_case

DIGITS = get_use_case("digits")


def _train(settings: Settings, trained_by: str) -> TrainedVersion:
    return train_on_base_data(DIGITS, settings, reason="test: retried train", trained_by=trained_by)


def _versions(client: MlflowClient) -> set[str]:
    return {v.version for v in client.search_model_versions(f"name='{DIGITS.model_name}'")}


def test_a_retry_returns_the_version_its_run_completed(settings: Settings, stack: object) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri)
    trained_by = f"retrain_digits/test__{uuid.uuid4().hex}"
    first = _train(settings, trained_by)
    before = _versions(client)

    again = _train(settings, trained_by)

    assert again.version == first.version and again.run_id == first.run_id
    assert again.metrics == first.metrics and again.profile_uri == first.profile_uri
    assert _versions(client) == before, "a retry registered another version"
    other = _train(settings, f"retrain_digits/test__{uuid.uuid4().hex}")
    assert other.version not in before, "another run must train its own version"


def test_a_retry_replaces_a_version_its_killed_try_left_incomplete(settings: Settings, stack: object) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri)
    trained_by = f"retrain_digits/test__{uuid.uuid4().hex}"
    killed = _train(settings, trained_by)
    # What a try killed between registering and tagging its version leaves: a run still RUNNING
    # and a version without the tag that marks it complete.
    client.delete_model_version_tag(DIGITS.model_name, killed.version, TRAINED_BY_TAG)
    client.update_run(killed.run_id, status="RUNNING")

    retried = _train(settings, trained_by)

    assert retried.version != killed.version
    assert killed.version not in _versions(client), "the incomplete version is still registered"
    assert client.get_run(killed.run_id).info.status == "KILLED"
    assert client.get_model_version(DIGITS.model_name, retried.version).tags[TRAINED_BY_TAG] == trained_by
