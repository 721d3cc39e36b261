"""Following the retrain DAG's runs through a fake of Airflow's REST API: the loop's run, the others."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from closeloop.demo.display import RetrainView
from closeloop.demo.options import DemoFailed
from closeloop.demo.retrain import RetrainFollower
from closeloop.demo.timeline import Timeline

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DAG = "retrain_digits"


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


class FakeAirflow:
    """Runs, task instances and XComs as Airflow's REST API returns them, and a count of each call."""

    def __init__(self) -> None:
        self.runs_: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, dict[str, Any]]] = {}
        self.xcoms: dict[tuple[str, str], Any] = {}
        self.calls: Counter[tuple[str, str]] = Counter()

    def add(self, run_id: str, after_s: float, *, state: str = "running", **tasks: str) -> None:
        self.runs_[run_id] = {
            "dag_run_id": run_id,
            "run_after": at(after_s),
            "start_date": at(after_s + 1),
            "state": state,
            "run_type": "asset_triggered",
        }
        self.tasks[run_id] = {
            task: {"state": task_state, "end_date": at(after_s + 10) if task_state == "success" else None}
            for task, task_state in tasks.items()
        }

    def runs(self, dag_id: str, *, run_type: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return list(self.runs_.values())[:limit]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.runs_[run_id]

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        self.calls["task_instances", run_id] += 1
        return self.tasks[run_id]

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        self.calls["xcom", run_id] += 1
        return self.xcoms[run_id, task_id]

    def ui_url(self, dag_id: str, run_id: str | None = None) -> str:
        return f"http://airflow/dags/{dag_id}/runs/{run_id}"


def _follower(api: FakeAirflow) -> RetrainFollower:
    return RetrainFollower(api, DAG, Timeline(T0, "accuracy"), RetrainView())  # type: ignore[arg-type]


def test_decided_runs_are_read_from_airflow_once() -> None:
    api = FakeAirflow()
    api.add("before", -5, why="success")  # created before the alert: not counted
    api.add("answered", 10, why="skipped")
    api.add("volume", 20, why="success")
    api.xcoms["volume", "why"] = {"alerts": [], "alert_kinds": ["feedback_volume"]}
    api.add("waiting", 30, why="queued")
    follower = _follower(api)

    assert follower.runs_since(T0) == {"answered": "answered", "volume": "volume", "waiting": "undecided"}
    api.tasks["waiting"]["why"]["state"] = "success"
    api.xcoms["waiting", "why"] = {"alerts": [], "alert_kinds": ["drift"]}
    assert follower.runs_since(T0) == {"answered": "answered", "volume": "volume", "waiting": "retrained"}
    assert follower.runs_since(T0)["waiting"] == "retrained"

    assert api.calls == {
        ("task_instances", "answered"): 1,
        ("task_instances", "volume"): 1,
        ("xcom", "volume"): 1,
        ("task_instances", "waiting"): 2,  # undecided, then decided
        ("xcom", "waiting"): 1,
    }


def test_the_loops_own_run_is_not_among_the_others() -> None:
    api = FakeAirflow()
    api.add("own", 10, why="success", wait_for_labels="running")
    api.add("later", 40, why="skipped")
    follower = _follower(api)
    follower.follow(T0 + timedelta(seconds=5))
    assert follower.run_id == "own"
    assert follower.runs_since(T0 + timedelta(seconds=5)) == {"later": "answered"}


def test_the_loops_run_is_the_first_since_the_alert_that_did_not_skip_itself() -> None:
    api = FakeAirflow()
    api.add("old", -60, why="success")
    api.add("stale", 8, why="skipped")
    api.add("own", 9, why="success", wait_for_labels="success", build_dataset="success", train="running")
    follower = _follower(api)

    follower.follow(T0 + timedelta(seconds=5))
    assert follower.run_id == "own" and follower.challenger is None
    marks = {m.step: m for m in follower.timeline.marks}
    assert list(marks) == ["dag_start", "labels", "dataset"]
    assert marks["dag_start"].at == T0 + timedelta(seconds=10)
    assert marks["dag_start"].detail == "retrain_digits run own (asset_triggered)"
    assert follower.view.run_id == "own" and follower.view.tasks["train"] == "running"

    api.tasks["own"]["train"] = {"state": "success", "end_date": at(30)}
    api.tasks["own"]["gate"] = {"state": "success", "end_date": at(35)}
    api.xcoms["own", "gate"] = {"decision": {"passed": True, "reason": "better"}, "update": {"version": 2}}
    follower.follow(T0 + timedelta(seconds=5))
    follower.follow(T0 + timedelta(seconds=5))
    assert follower.challenger == "2" and api.calls["xcom", "own"] == 1
    assert [m.step for m in follower.timeline.marks] == ["dag_start", "labels", "dataset", "trained", "gated"]


def test_no_run_yet_marks_nothing() -> None:
    api = FakeAirflow()
    api.add("stale", 8, why="skipped")
    follower = _follower(api)
    follower.follow(T0 + timedelta(seconds=5))
    assert follower.run_id is None and follower.timeline.marks == []


def test_a_gate_that_keeps_the_champion_fails_the_loop() -> None:
    api = FakeAirflow()
    api.add("own", 9, why="success", gate="success")
    api.xcoms["own", "gate"] = {"decision": {"passed": False, "reason": "not better"}, "update": None}
    with pytest.raises(DemoFailed) as failed:
        _follower(api).follow(T0)
    assert failed.value.step == "gate"
    assert failed.value.why == (
        "the gate kept the champion: not better (http://airflow/dags/retrain_digits/runs/own)"
    )


def test_a_failed_run_names_its_failed_tasks() -> None:
    api = FakeAirflow()
    api.add("own", 9, state="failed", why="success", build_dataset="success", train="failed")
    with pytest.raises(DemoFailed) as failed:
        _follower(api).follow(T0)
    assert failed.value.step == "retrain"
    assert failed.value.why == "run own failed at train: http://airflow/dags/retrain_digits/runs/own"
