"""`closeloop rollback MODEL`: one command back to the previous champion, announced to the gateway."""

from __future__ import annotations

import getpass

from mlflow import MlflowClient
from typer.testing import CliRunner

from closeloop.cli import app
from closeloop.config import Settings
from closeloop.events import ModelUpdateEvent
from tests.integration.kafka_reading import end_offsets, read_to_end
from tests.integration.registry_models import register_digits
from training.gate import GateDecision, Scores
from training.promotion import CHAMPION, PREVIOUS, ROLLBACK_TAG, alias_version, apply_decision


def _text(output: str) -> str:
    """The CLI's output without rich's line wrapping."""
    return " ".join(output.split())


def _passed() -> GateDecision:
    return GateDecision(
        passed=True, reason="test", metric="accuracy", challenger=Scores(holdout=None, test=1.0)
    )


def test_rollback_restores_the_previous_champion_and_a_second_one_undoes_it(
    settings: Settings, unique_name: str, stack: object
) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri)
    first = register_digits(settings.mlflow_tracking_uri, unique_name, rows=300)
    second = register_digits(settings.mlflow_tracking_uri, unique_name, rows=600, alias=None)
    assert apply_decision(client, unique_name, second, _passed()).previous == first
    assert (alias_version(client, unique_name, CHAMPION), alias_version(client, unique_name, PREVIOUS)) == (
        second,
        first,
    )
    start = end_offsets(settings.kafka_bootstrap, settings.topics.model_updates)

    result = CliRunner().invoke(app, ["rollback", unique_name])
    assert result.exit_code == 0, result.output
    assert f"champion is version {first} again (was {second})" in _text(result.output)
    assert alias_version(client, unique_name, CHAMPION) == first
    assert alias_version(client, unique_name, PREVIOUS) == second
    (update,) = [
        e
        for e in read_to_end(settings.kafka_bootstrap, settings.topics.model_updates, start)
        if isinstance(e, ModelUpdateEvent) and e.model_name == unique_name
    ]
    # Who rolled back: the CLI's user, in the event and on the version.
    by = f"rollback by {getpass.getuser()}"
    assert (update.version, update.previous_version, update.reason) == (first, second, by)
    assert client.get_model_version(unique_name, first).tags[ROLLBACK_TAG].startswith(f"{by} at ")

    assert CliRunner().invoke(app, ["rollback", unique_name]).exit_code == 0
    assert alias_version(client, unique_name, CHAMPION) == second


def test_rollback_without_a_previous_champion_says_so(
    settings: Settings, unique_name: str, stack: object
) -> None:
    register_digits(settings.mlflow_tracking_uri, unique_name, rows=300)
    result = CliRunner().invoke(app, ["rollback", unique_name])
    assert result.exit_code == 1
    assert "no 'previous_champion' alias: nothing to roll back to" in _text(result.output)
