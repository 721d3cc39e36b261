"""The retrain DAG's runs as the demo sees them through Airflow's REST API.

The loop's own run (the one its alert started): its start, its tasks' ends
and the gate's decision, marked on the timeline as they happen. After
recovery, the other alert-triggered runs by outcome, each decided one read
from Airflow once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from closeloop.airflow_api import AirflowApi
from closeloop.demo.display import RetrainView
from closeloop.demo.options import DemoFailed
from closeloop.demo.stability import RunOutcome, run_outcome
from closeloop.demo.timeline import Timeline

__all__ = ["RetrainFollower"]

#: The retrain DAG's tasks, and the milestone each one's end is.
_TASK_MILESTONES = {"build_dataset": "dataset", "train": "trained", "gate": "gated"}


def _parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None


class RetrainFollower:
    def __init__(self, api: AirflowApi, dag_id: str, timeline: Timeline, view: RetrainView) -> None:
        self.api = api
        self.dag_id = dag_id
        self.timeline = timeline
        self.view = view
        #: The loop's own run, once found.
        self.run_id: str | None = None
        #: The version the loop's run trained and its gate passed.
        self.challenger: str | None = None
        #: Whether the gate made it a canary; then the live gate's verdict (end_canary's), once given.
        self.canary = False
        self.verdict: dict[str, Any] | None = None
        #: Outcomes of other runs that have decided: a decided run does not change.
        self._decided: dict[str, RunOutcome] = {}

    def follow(self, alert_at: datetime) -> None:
        """The retrain run the alert started: its start, its tasks' ends, the gate's decision.

        The first run created since the alert that did not skip itself: a run
        started by a stale alert (one about an older version, say from the
        stack's own job) skips everything and is passed over.
        """
        if self.run_id is None:
            # run_after: when an asset-triggered run was created (queued_at is unset until it queues).
            candidates = sorted(
                (r for r in self.api.runs(self.dag_id, limit=10) if _parse(r["run_after"]) >= alert_at),
                key=lambda r: r["run_after"],
            )
            for candidate in candidates:
                tasks = self.api.task_instances(self.dag_id, candidate["dag_run_id"])
                if tasks.get("why", {}).get("state") != "skipped":
                    self.run_id = candidate["dag_run_id"]
                    break
            if self.run_id is None:
                return
        run_id = self.run_id
        run = self.api.run(self.dag_id, run_id)
        tasks = self.api.task_instances(self.dag_id, run_id)
        view = self.view
        view.run_id, view.state, view.url = run_id, run["state"], self.api.ui_url(self.dag_id, run_id)
        view.tasks = {task: tasks[task]["state"] for task in tasks}
        if (started := _parse(run.get("start_date"))) is not None:
            self.timeline.mark("dag_start", started, f"{self.dag_id} run {run_id} ({run.get('run_type')})")
        waited = _parse(tasks.get("wait_for_labels", {}).get("end_date"))
        if waited is not None and tasks["wait_for_labels"]["state"] == "success":
            # Not a part of its own: the wait is part of getting the dataset.
            self.timeline.mark(
                "labels", waited, "task wait_for_labels done: enough labels since the alert's condition began"
            )
        for task, step in _TASK_MILESTONES.items():
            ended = _parse(tasks.get(task, {}).get("end_date"))
            if ended is not None and tasks[task]["state"] == "success":
                self.timeline.mark(step, ended, f"task {task} done")
        if tasks.get("gate", {}).get("state") == "success" and self.challenger is None:
            gate = self.api.xcom(self.dag_id, run_id, "gate")
            if not gate["decision"]["passed"]:
                raise DemoFailed(
                    "gate", f"the gate kept the champion: {gate['decision']['reason']} ({view.url})"
                )
            if gate.get("canary"):
                self.canary, self.challenger = True, str(gate["canary"]["version"])
            else:
                self.challenger = str(gate["update"]["version"])
        if self.canary and self.verdict is None and tasks.get("end_canary", {}).get("state") == "success":
            self.verdict = self.api.xcom(self.dag_id, run_id, "end_canary")["verdict"]
            ended = _parse(tasks["end_canary"].get("end_date")) or datetime.now().astimezone()
            self.timeline.note("live gate", ended, self.verdict["reason"])
            if not self.verdict["passed"]:
                raise DemoFailed("live gate", f"the canary was not promoted: {self.verdict['reason']}")
        if run["state"] == "failed":
            failed = [task for task, state in view.tasks.items() if state == "failed"]
            raise DemoFailed("retrain", f"run {run_id} failed at {', '.join(failed) or '?'}: {view.url}")

    def runs_since(self, alert_at: datetime) -> dict[str, RunOutcome]:
        """Alert-triggered runs created since the loop's alert, but the loop's own, by outcome.

        Only the runs still undecided are read again (their tasks and `why` XCom):
        polled every few seconds, the decided ones would cost two requests each.
        """
        runs = [
            run
            for run in self.api.runs(self.dag_id, run_type="asset_triggered", limit=50)
            if _parse(run["run_after"]) >= alert_at and run["dag_run_id"] != self.run_id
        ]
        outcomes = {}
        for run in runs:
            run_id = run["dag_run_id"]
            if (outcome := self._decided.get(run_id)) is None:
                tasks = self.api.task_instances(self.dag_id, run_id)
                passed = tasks.get("why", {}).get("state") == "success"
                reason = self.api.xcom(self.dag_id, run_id, "why") if passed else None
                outcome = run_outcome(tasks, reason)
                if outcome != "undecided":
                    self._decided[run_id] = outcome
            outcomes[run_id] = outcome
        return outcomes
