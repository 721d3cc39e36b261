"""What the demo sets up before it follows the loop, and takes down after: the stack, the first
champion, the demo's own streaming job, and the traffic that will drift.

Bring up what is not running yet; train and promote a first model
through the retrain DAG while the demo's job (windows of seconds) starts on
Flink; wait until the gateway serves that champion. On the way out, cancel
the demo's job and stop only what the demo started.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console

from closeloop.airflow_api import AirflowApi
from closeloop.demo.job import DemoFeedbackJob
from closeloop.demo.options import DemoFailed, DemoOptions
from closeloop.demo.simulator import TrafficPlan, TrafficSimulator, TrafficThread
from closeloop.errors import CloseloopError
from closeloop.stack.manager import LocalStack
from closeloop.stack.process import ProcessRecord
from closeloop.stack.services.airflow import AirflowService
from closeloop.stack.settings import StackSettings
from closeloop.waiting import WaitTimeout, wait_until
from training.usecases import UseCase

__all__ = ["STACK_JOB", "DemoSetup"]

#: The stack's own streaming job; the demo runs one of its own (see closeloop.demo.job).
STACK_JOB = "feedback-job"


class DemoSetup:
    """The stack, the first champion and the demo's streaming job, for one demo run."""

    def __init__(
        self,
        settings: StackSettings,
        options: DemoOptions,
        console: Console,
        use_case: UseCase,
        say: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.options = options
        self.console = console
        self.use_case = use_case
        self.say = say
        self.stack = LocalStack(settings)
        self.dag_id = f"retrain_{use_case.name}"
        #: The first champion's version, once its retrain run has promoted it.
        self.champion: str | None = None
        self._api: AirflowApi | None = None
        self._started_services: list[str] = []
        self._started_stack_job = False
        self._job: DemoFeedbackJob | None = None
        self._job_record: ProcessRecord | None = None
        #: The model's rollout tags before the demo set its own, to put back (None: absent).
        self._policy_before: dict[str, str | None] | None = None

    @property
    def api(self) -> AirflowApi:
        assert self._api is not None, "bring_up() first"
        return self._api

    # Up ---------------------------------------------------------------------------------
    def bring_up(self) -> None:
        before = {row.name for row in self.stack.status() if row.running}
        names = [name for name in self.stack.services if name != STACK_JOB]
        self.say("bringing the stack up (what is not running yet)")
        self.stack.up(names, report=lambda service, message: self.say(f"[bold]{service:<16}[/] {message}"))
        self._started_services = [name for name in names if name not in before]
        airflow = self.stack.services[AirflowService.name]
        assert isinstance(airflow, AirflowService)
        self._api = airflow.api()
        if STACK_JOB in before:
            self.say(
                "[yellow]the stack's own feedback job is running too[/]: it sees the same traffic in its "
                "one-minute windows; the demo follows its own job's windows"
            )

    def prepare(self) -> str:
        """The first champion and the demo's job, together; the champion's version, once served."""
        start = datetime.now(UTC)
        self.say("training the first champion (Airflow) and submitting the streaming job (Flink), together")
        with (
            self.console.status("first champion and streaming job: about a minute on 2 cores"),
            ThreadPoolExecutor(2) as pool,
        ):
            champion = pool.submit(self.first_champion)
            job = pool.submit(self.submit_job, start)
            self.champion = champion.result()
            job.result()
        assert self._job is not None
        self.say(f"streaming job [bold]{self._job.job_name}[/] running, {self.options.window_s} s windows")
        self.wait_until_served(self.champion)
        self.say(f"the gateway serves the first champion, version [bold]{self.champion}[/]")
        self.set_rollout()
        return self.champion

    def _wait_for_dag(self, timeout_s: float = 180.0) -> None:
        """Until Airflow has parsed the retrain DAG: on a fresh stack, a while after it is healthy."""
        try:
            wait_until(
                lambda: self.dag_id in self.api.dags(),
                timeout_s,
                f"Airflow to load {self.dag_id}",
                interval=2,
            )
        except WaitTimeout as exc:
            raise DemoFailed(
                "first champion", f"Airflow has not loaded {self.dag_id}: see `closeloop logs airflow`"
            ) from exc

    def first_champion(self) -> str:
        """A manual retrain run that forces a model trained on the base data alone to champion."""
        self._wait_for_dag()
        self._clear_the_way()
        run_id = self.api.trigger(
            self.dag_id,
            # A data window of a tenth of a second: nothing from the lake, so the
            # first champion has seen clean base data only.
            # Promoted at once and not watched: there is no traffic yet to judge it on.
            {
                "force": True,
                "window_days": 1e-6,
                "min_new_labels": 0,
                "rollout": "direct",
                "watch_minutes": 0,
            },
            note="closeloop demo: the first champion, trained on the base data",
        )
        self.say(f"first champion: retrain run {run_id}\n        {self.api.ui_url(self.dag_id, run_id)}")
        done: set[str] = set()

        def progress(tasks: dict[str, dict[str, Any]]) -> None:
            for task, instance in tasks.items():
                if instance["state"] in ("success", "failed", "skipped") and task not in done:
                    done.add(task)
                    self.say(f"first champion: task {task} {instance['state']}")

        run = self.api.wait(self.dag_id, run_id, timeout_s=300, on_change=progress)
        if run["state"] != "success":
            raise DemoFailed(
                "first champion", f"the retrain run ended {run['state']}: {self.api.ui_url(self.dag_id)}"
            )
        gate = self.api.xcom(self.dag_id, run_id, "gate")
        return str(gate["update"]["version"])

    def submit_job(self, start: datetime) -> None:
        job = DemoFeedbackJob(
            self.settings,
            self.stack.layout,
            window_s=self.options.window_s,
            start_from_ms=int(start.timestamp() * 1000),
        )
        job.prepare()
        self._job_record = job.start()
        self._job = job
        try:
            wait_until(lambda: job.probe().ok, 60, f"{job.job_name} to run")
        except WaitTimeout as exc:
            raise DemoFailed(
                "streaming job", f"not running 60 s after submission: {job.probe().detail}"
            ) from exc

    def _clear_the_way(self) -> None:
        """Fail the DAG's unfinished runs: one at a time runs, and the first champion replaces the
        model they would retrain.

        An alert-driven run of an earlier demo that stopped before it had its
        labels would otherwise wait for them for hours, and the first
        champion's run behind it.
        """
        for run in self.api.runs(self.dag_id, limit=20):
            if run["state"] in ("queued", "running"):
                self.api.fail_run(
                    self.dag_id, run["dag_run_id"], "closeloop demo: superseded by a new first champion"
                )
                self.say(
                    f"[yellow]marked {self.dag_id} run {run['dag_run_id']} ({run['state']}) failed[/]: "
                    "it would hold up the first champion, which replaces the model it retrains"
                )

    def set_rollout(self) -> None:
        """The model's rollout policy for the demo's retrain, which an alert starts (so takes no params):
        canary with its share for --canary, direct (then watched) otherwise. Put back at tear down."""
        from mlflow import MlflowClient

        from closeloop.gateway.canary import SHARE_TAG
        from training.promotion import ROLLOUT_TAG, model_tags

        client = MlflowClient(self.settings.mlflow_tracking_uri)
        name = self.use_case.model_name
        tags = model_tags(client, name)
        self._policy_before = {key: tags.get(key) for key in (ROLLOUT_TAG, SHARE_TAG)}
        wanted = (
            {ROLLOUT_TAG: "canary", SHARE_TAG: f"{self.options.canary_share:g}"}
            if self.options.canary
            else {ROLLOUT_TAG: "direct", SHARE_TAG: None}
        )
        _set_model_tags(client, name, wanted)
        if self.options.canary:
            self.say(
                f"rollout: the retrain's challenger serves {self.options.canary_share:.0%} of the traffic "
                "as a canary until its live windows decide"
            )

    def restore_rollout(self) -> None:
        if self._policy_before is None:
            return
        from mlflow import MlflowClient

        try:
            client = MlflowClient(self.settings.mlflow_tracking_uri)
            _set_model_tags(client, self.use_case.model_name, self._policy_before)
        except Exception as exc:  # the stack may be on its way down; say what is left
            self.say(f"[yellow]could not put back {self.use_case.model_name}'s rollout tags[/]: {exc}")
        self._policy_before = None

    def wait_until_served(self, version: str, timeout_s: float = 90.0) -> None:
        """Until the gateway answers with ``version`` (it reloads on the model-update event)."""
        gateway = self.stack.services["gateway"]
        row = self.use_case.base_data().test[self.use_case.features()].iloc[0].to_dict()
        served: list[object] = [None]  # what the gateway said last, for the failure

        def serves() -> bool:
            try:
                response = httpx.post(
                    f"{gateway.url}/v1/models/{self.use_case.model_name}/predict",
                    json={"inputs": row},
                    timeout=60,
                )
                served[0] = (
                    response.json().get("model_version") if response.status_code == 200 else response.text
                )
            except httpx.HTTPError as exc:
                served[0] = repr(exc)
            return served[0] == version

        try:
            wait_until(serves, timeout_s, f"the gateway to serve version {version}")
        except WaitTimeout as exc:
            raise DemoFailed(
                "first champion", f"the gateway still serves {served[0]!r}, not version {version}"
            ) from exc

    def traffic(self, on_prediction: Callable[[float, dict[str, Any]], None]) -> TrafficThread:
        """The demo's traffic, clean then drifted: long enough for the loop, its timeout and the settling."""
        rows = self.use_case.base_data().test
        plan = TrafficPlan(
            rate_per_s=self.options.rate_per_s,
            clients=self.options.clients,
            feedback_coverage=self.options.feedback_coverage,
            feedback_delay_s=self.options.feedback_delay_s,
            drift_start_s=self.options.drift_start_s,
        )
        simulator = TrafficSimulator(
            self.stack.services["gateway"].url,
            self.use_case.model_name,
            rows,
            self.use_case.drift(rows, self.options.drift_kind, self.options.drift_severity),
            plan,
            features=self.use_case.features(),
            on_prediction=on_prediction,
        )
        duration = self.options.drift_start_s + self.options.loop_timeout_s + 120 + self.options.settle_s
        return TrafficThread(simulator, duration)

    # Down -------------------------------------------------------------------------------
    def cancel_demo_job(self) -> None:
        if self._job is not None and self._job_record is not None:
            self._job.terminate(self._job_record, report=self.say)
            self.say("cancelled the demo's streaming job")
        self._job = self._job_record = None

    def start_stack_job(self) -> None:
        """The stack's own feedback job, which the demo kept out of its way: the stack left to
        explore has live metrics, and `closeloop status` is all healthy."""
        if any(row.running for row in self.stack.status([STACK_JOB])):
            return
        self.say("starting the stack's own feedback job (one-minute windows)")
        try:
            self.stack.up(
                [STACK_JOB], report=lambda service, message: self.say(f"[bold]{service:<16}[/] {message}")
            )
            self._started_stack_job = True
        except CloseloopError as exc:
            self.say(
                f"[red]the stack's feedback job did not start[/]: {exc}; `closeloop up feedback-job` retries"
            )

    def models_page_url(self) -> str | None:
        """The Models view in Airflow's UI, where the loop's champions, alerts and retrains show."""
        airflow = self.stack.services.get(AirflowService.name)
        return airflow.models_page_url if isinstance(airflow, AirflowService) else None

    def tear_down(self) -> None:
        self.cancel_demo_job()
        self.restore_rollout()
        if self.options.keep_running:
            self.start_stack_job()
            self.say("[bold]--keep-running[/]: the stack stays up; `closeloop down` stops it")
        elif started := ([STACK_JOB] if self._started_stack_job else []) + self._started_services:
            self.say(f"stopping what the demo started: {', '.join(started)}")
            self.stack.down(started)


def _set_model_tags(client: Any, model_name: str, tags: dict[str, str | None]) -> None:
    """Set the registered model's ``tags``; None deletes one."""
    present = client.get_registered_model(model_name).tags
    for key, value in tags.items():
        if value is not None:
            client.set_registered_model_tag(model_name, key, value)
        elif key in present:
            client.delete_registered_model_tag(model_name, key)
