"""The demo's setup clears what would hold up its first champion."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from closeloop.demo.options import DemoOptions
from closeloop.demo.setup import DemoSetup
from closeloop.stack.settings import get_stack_settings
from training.usecases import get_use_case


class _Api:
    def __init__(self, runs: list[dict[str, Any]]) -> None:
        self._runs, self.failed = runs, []

    def runs(self, dag_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
        return self._runs

    def fail_run(self, dag_id: str, run_id: str, note: str) -> None:
        self.failed.append((dag_id, run_id, note))


def test_unfinished_runs_of_the_retrain_dag_are_failed_before_the_first_champion() -> None:
    said: list[str] = []
    setup = DemoSetup(get_stack_settings(), DemoOptions(), Console(), get_use_case("digits"), said.append)
    api = _Api(
        [
            {"dag_run_id": "waiting-for-labels", "state": "running"},
            {"dag_run_id": "behind-it", "state": "queued"},
            {"dag_run_id": "old", "state": "success"},
            {"dag_run_id": "older", "state": "failed"},
        ]
    )
    setup._api = api  # type: ignore[assignment]
    setup._clear_the_way()
    assert [(dag, run) for dag, run, _ in api.failed] == [
        ("retrain_digits", "waiting-for-labels"),
        ("retrain_digits", "behind-it"),
    ]
    assert all("superseded" in note for *_, note in api.failed)
    assert len(said) == 2 and "waiting-for-labels" in said[0]


def test_the_models_page_is_the_stacks_airflow_plugin_route() -> None:
    settings = get_stack_settings()
    setup = DemoSetup(settings, DemoOptions(), Console(), get_use_case("digits"), print)
    assert (
        setup.models_page_url() == f"http://{settings.host}:{settings.airflow_port}/plugin/closeloop-models"
    )
