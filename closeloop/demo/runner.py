"""`closeloop demo`: the closed loop, end to end, on the real local stack.

Bring the stack up; train and promote a first digits model through the
retrain DAG; submit the streaming job with windows of seconds; send traffic
with delayed, partial feedback; drift the inputs at a set time; then follow
the loop on Kafka and through Airflow's REST API until a new champion serves
and live accuracy has recovered, or say which step did not happen and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from closeloop.airflow_api import AirflowApi
from closeloop.demo.display import LiveView, milestones_table
from closeloop.demo.job import DemoFeedbackJob
from closeloop.demo.plot import save_plot
from closeloop.demo.simulator import TrafficPlan, TrafficSimulator, TrafficStats
from closeloop.demo.stability import Stability, run_outcome
from closeloop.demo.timeline import Timeline, WindowPoint, judge_recovery
from closeloop.demo.watcher import LoopWatcher
from closeloop.errors import CloseloopError
from closeloop.events import AlertEvent, Event, MetricsEvent, ModelUpdateEvent
from closeloop.stack.manager import LocalStack
from closeloop.stack.process import ProcessRecord
from closeloop.stack.services.airflow import AirflowService
from closeloop.stack.settings import StackSettings
from training.drift.digits import DRIFT_KINDS, drift_frame
from training.usecases import get_use_case

__all__ = ["DemoFailed", "DemoOptions", "DemoResult", "run_demo"]

#: The retrain DAG's tasks, and the milestone each one's end is.
_TASK_MILESTONES = {"build_dataset": "dataset", "train": "trained", "gate": "gated"}
#: The stack's own streaming job; the demo runs one of its own (see closeloop.demo.job).
_STACK_JOB = "feedback-job"


class DemoFailed(CloseloopError):
    """A step of the loop did not happen; the message says which and why."""

    def __init__(self, step: str, why: str) -> None:
        super().__init__(f"{step}: {why}")
        self.step = step
        self.why = why


@dataclass(frozen=True)
class DemoOptions:
    rate_per_s: float = 30.0
    clients: int = 4
    feedback_coverage: float = 0.8
    feedback_delay_s: tuple[float, float] = (0.5, 3.0)
    drift_kind: str = "thickness"
    drift_severity: float = 1.0
    #: Seconds of clean traffic before the drift starts.
    drift_start_s: float = 45.0
    window_s: int = 5
    #: Live accuracy the new champion must reach for the loop to count as closed.
    recovery_threshold: float = 0.85
    #: Windows of the new champion (each with enough labels) its accuracy is judged over.
    recovery_windows: int = 2
    #: How long after the drift the loop may take to close before the demo gives up.
    loop_timeout_s: float = 300.0
    keep_running: bool = False
    output_dir: Path | None = None
    #: After the loop closes, this many more seconds of the drifted traffic on the stack's own
    #: streaming job, which must start no further retrain or promotion (0: no such check).
    settle_s: float = 0.0

    def __post_init__(self) -> None:
        if self.drift_kind not in DRIFT_KINDS:
            raise ValueError(f"unknown drift kind {self.drift_kind!r}; known kinds: {', '.join(DRIFT_KINDS)}")
        if self.window_s < 1 or self.drift_start_s < 2 * self.window_s:
            raise ValueError(
                f"the drift must start at least two windows ({2 * self.window_s} s) into the traffic, "
                f"so the clean accuracy is seen first; got {self.drift_start_s} s"
            )
        if self.settle_s < 0:
            raise ValueError(f"the settle time must be 0 (no check) or more seconds; got {self.settle_s}")


@dataclass(frozen=True)
class DemoResult:
    timeline: Timeline
    plot: Path
    summary: Path
    failure: DemoFailed | None
    traffic: TrafficStats | None
    stability: Stability | None = None

    @property
    def closed(self) -> bool:
        return self.failure is None


def _now() -> datetime:
    return datetime.now(UTC)


def _parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None


class _Traffic(threading.Thread):
    """The simulator on an event loop of its own, stoppable from the main thread."""

    def __init__(self, simulator: TrafficSimulator, duration_s: float) -> None:
        super().__init__(name="demo-traffic", daemon=True)
        self._simulator = simulator
        self._duration_s = duration_s
        self._loop = asyncio.new_event_loop()
        self._halt: asyncio.Event | None = None
        self.stats: TrafficStats = simulator.stats

    def run(self) -> None:
        async def play() -> TrafficStats:
            self._halt = asyncio.Event()
            return await self._simulator.run(self._duration_s, self._halt)

        self.stats = self._loop.run_until_complete(play())

    def stop(self) -> None:
        if self._halt is not None and self.is_alive():
            self._loop.call_soon_threadsafe(self._halt.set)
        self.join(timeout=30)


class DemoRun:
    def __init__(self, settings: StackSettings, options: DemoOptions, console: Console) -> None:
        self.settings = settings
        self.options = options
        self.console = console
        self.stack = LocalStack(settings)
        self.use_case = get_use_case("digits")
        self.dag_id = f"retrain_{self.use_case.name}"
        self.timeline = Timeline(_now(), self.use_case.primary_metric)
        self.view = LiveView(self.timeline, options.recovery_threshold)
        self._events: queue.Queue[tuple[Event, datetime]] = queue.Queue()
        self._first_served: dict[str, datetime] = {}
        self._served_lock = threading.Lock()
        self._started_services: list[str] = []
        self._job: DemoFeedbackJob | None = None
        self._job_record: ProcessRecord | None = None
        self._champion: str | None = None
        self._challenger: str | None = None
        self._run_id: str | None = None
        self._updates: dict[str, datetime] = {}
        self._window = timedelta(seconds=options.window_s)
        self._api: AirflowApi | None = None
        self._traffic_started = self.timeline.started
        self.traffic: _Traffic | None = None
        self.stability: Stability | None = None
        self._started_stack_job = False

    # Output -------------------------------------------------------------------------
    def say(self, message: str) -> None:
        self.console.print(f"[dim]{self.timeline.seconds(_now()):6.1f}s[/] {message}")

    @property
    def output_dir(self) -> Path:
        return self.options.output_dir or self.stack.layout.state / "demo"

    # Steps ------------------------------------------------------------------------------
    def bring_up(self) -> None:
        before = {row.name for row in self.stack.status() if row.running}
        names = [name for name in self.stack.services if name != _STACK_JOB]
        self.say("bringing the stack up (what is not running yet)")
        self.stack.up(names, report=lambda service, message: self.say(f"[bold]{service:<16}[/] {message}"))
        self._started_services = [name for name in names if name not in before]
        airflow = self.stack.services[AirflowService.name]
        assert isinstance(airflow, AirflowService)
        self._api = airflow.api()
        if _STACK_JOB in before:
            self.say(
                "[yellow]the stack's own feedback job is running too[/]: it sees the same traffic in its "
                "one-minute windows; the demo follows its own job's windows"
            )

    @property
    def api(self) -> AirflowApi:
        assert self._api is not None, "bring_up() first"
        return self._api

    def _wait_for_dag(self, timeout_s: float = 180.0) -> None:
        """Until Airflow has parsed the retrain DAG: on a fresh stack, a while after it is healthy."""
        deadline = time.monotonic() + timeout_s
        while self.dag_id not in self.api.dags():
            if time.monotonic() > deadline:
                raise DemoFailed(
                    "first champion", f"Airflow has not loaded {self.dag_id}: see `closeloop logs airflow`"
                )
            time.sleep(2)

    def first_champion(self) -> str:
        """A manual retrain run that forces a model trained on the base data alone to champion."""
        self._wait_for_dag()
        run_id = self.api.trigger(
            self.dag_id,
            # A data window of a tenth of a second: nothing from the lake, so the
            # first champion has seen clean digits only.
            {"force": True, "window_days": 1e-6, "min_new_labels": 0},
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
        deadline = time.monotonic() + 60
        while not job.probe().ok:
            if time.monotonic() > deadline:
                raise DemoFailed("streaming job", f"not running 60 s after submission: {job.probe().detail}")
            time.sleep(1)

    def wait_until_served(self, version: str, timeout_s: float = 90.0) -> None:
        """Until the gateway answers with ``version`` (it reloads on the model-update event)."""
        gateway = self.stack.services["gateway"]
        row = self.use_case.base_data().test[self.use_case.features()].iloc[0].to_dict()
        deadline = time.monotonic() + timeout_s
        served = None
        while time.monotonic() < deadline:
            try:
                response = httpx.post(
                    f"{gateway.url}/v1/models/{self.use_case.model_name}/predict",
                    json={"inputs": row},
                    timeout=60,
                )
                served = (
                    response.json().get("model_version") if response.status_code == 200 else response.text
                )
            except httpx.HTTPError as exc:
                served = repr(exc)
            if served == version:
                return
            time.sleep(1)
        raise DemoFailed("first champion", f"the gateway still serves {served!r}, not version {version}")

    def prepare(self) -> None:
        start = _now()
        self.say("training the first champion (Airflow) and submitting the streaming job (Flink), together")
        with (
            self.console.status("first champion and streaming job: about a minute on 2 cores"),
            ThreadPoolExecutor(2) as pool,
        ):
            champion = pool.submit(self.first_champion)
            job = pool.submit(self.submit_job, start)
            self._champion = champion.result()
            job.result()
        assert self._job is not None
        self.say(f"streaming job [bold]{self._job.job_name}[/] running, {self.options.window_s} s windows")
        self.wait_until_served(self._champion)
        self.say(f"the gateway serves the first champion, version [bold]{self._champion}[/]")

    # The loop ---------------------------------------------------------------------------
    def _on_prediction(self, _at_s: float, served: dict[str, Any]) -> None:
        version = served["model_version"]
        if version not in self._first_served:
            with self._served_lock:
                self._first_served.setdefault(version, _now())

    def _traffic(self) -> _Traffic:
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
            drift_frame(rows, self.options.drift_kind, self.options.drift_severity),
            plan,
            features=self.use_case.features(),
            on_prediction=self._on_prediction,
        )
        duration = self.options.drift_start_s + self.options.loop_timeout_s + 120 + self.options.settle_s
        return _Traffic(simulator, duration)

    def _handle(self, event: Event, at: datetime) -> None:
        drift = self.timeline.first("drift")
        if isinstance(event, MetricsEvent):
            if event.window.end - event.window.start == self._window:
                self.timeline.add_window(event)
        elif isinstance(event, AlertEvent) and event.window.end - event.window.start != self._window:
            # The stack's own job (one-minute windows) or Prometheus' rules on its
            # metrics: the demo follows only the retrain its own alert starts.
            origin = "Prometheus" if event.source == "prometheus" else "stack job"
            self.timeline.note(f"alert ({origin})", at, f"{event.rule} on version {event.model_version}")
        elif isinstance(event, AlertEvent):
            detail = (
                f"{event.rule} on version {event.model_version}: "
                f"{event.metric}={event.value:.3g} vs {event.threshold:g}"
            )
            if drift is not None and at >= drift.at:
                if not self.timeline.mark("alert", at, detail):
                    self.timeline.note("alert", at, detail)
            else:
                self.timeline.note("alert (before drift)", at, detail)
        elif isinstance(event, ModelUpdateEvent) and event.version != self._champion:
            # Which update is the loop's own is known once its run's gate has passed.
            self._updates.setdefault(event.version, at)

    def _follow_retrain(self, alert_at: datetime) -> None:
        """The retrain run the alert started: its start, its tasks' ends, the gate's decision.

        The first run created since the alert that did not skip itself: a run
        started by a stale alert (one about an older version, say from the
        stack's own job) skips everything and is passed over.
        """
        if self._run_id is None:
            # run_after: when an asset-triggered run was created (queued_at is unset until it queues).
            candidates = sorted(
                (r for r in self.api.runs(self.dag_id, limit=10) if _parse(r["run_after"]) >= alert_at),
                key=lambda r: r["run_after"],
            )
            for candidate in candidates:
                tasks = self.api.task_instances(self.dag_id, candidate["dag_run_id"])
                if tasks.get("why", {}).get("state") != "skipped":
                    self._run_id = candidate["dag_run_id"]
                    break
            if self._run_id is None:
                return
        run_id = self._run_id
        run = self.api.run(self.dag_id, run_id)
        tasks = self.api.task_instances(self.dag_id, run_id)
        view = self.view.retrain
        view.run_id, view.state, view.url = run_id, run["state"], self.api.ui_url(self.dag_id, run_id)
        view.tasks = {task: tasks[task]["state"] for task in tasks}
        if (started := _parse(run.get("start_date"))) is not None:
            self.timeline.mark("dag_start", started, f"{self.dag_id} run {run_id} ({run.get('run_type')})")
        waited = _parse(tasks.get("wait_for_labels", {}).get("end_date"))
        if waited is not None and tasks["wait_for_labels"]["state"] == "success":
            # Not a part of its own: the wait is part of getting the dataset.
            self.timeline.mark(
                "labels", waited, "task wait_for_labels done: enough labels newer than the alert"
            )
        for task, step in _TASK_MILESTONES.items():
            ended = _parse(tasks.get(task, {}).get("end_date"))
            if ended is not None and tasks[task]["state"] == "success":
                self.timeline.mark(step, ended, f"task {task} done")
        if tasks.get("gate", {}).get("state") == "success" and self._challenger is None:
            gate = self.api.xcom(self.dag_id, run_id, "gate")
            if not gate["decision"]["passed"]:
                raise DemoFailed(
                    "gate", f"the gate kept the champion: {gate['decision']['reason']} ({view.url})"
                )
            self._challenger = str(gate["update"]["version"])
        if run["state"] == "failed":
            failed = [task for task, state in view.tasks.items() if state == "failed"]
            raise DemoFailed("retrain", f"run {run_id} failed at {', '.join(failed) or '?'}: {view.url}")

    def _why_not(self) -> DemoFailed:
        """The first milestone that never came, and what the demo saw instead."""
        missing = self.timeline.breakdown().missing or "recovered"
        last = [w for w in self.timeline.windows if w.labeled][-3:]
        seen = ", ".join(f"{w.quality:.2f}" for w in last if w.quality is not None) or "none"
        reasons = {
            "alert": f"no alert after the drift; the last windows' {self.timeline.quality_metric}: {seen}"
            + (
                ""
                if self.timeline.windows
                else " (no windows at all: is the Flink job running? `closeloop status`)"
            ),
            "dag_start": f"an alert fired but no {self.dag_id} run started: is Airflow's triggerer up? "
            "`closeloop logs airflow`",
            "promoted": f"the retrain run did not move the champion alias: {self.view.retrain.url}",
            "served": f"version {self._challenger} was promoted but the gateway never served it",
            "recovered": f"version {self._challenger}'s live {self.timeline.quality_metric} stayed below "
            f"{self.options.recovery_threshold} (last windows: {seen})",
        }
        why = reasons.get(
            missing, f"the retrain run did not finish its {missing} step: {self.view.retrain.url}"
        )
        return DemoFailed(missing, f"{why} (gave up {self.options.loop_timeout_s:.0f} s after the drift)")

    def _step(self, traffic: _Traffic) -> bool:
        """One turn of the loop; True once the loop has closed."""
        now = _now()
        drift = self.timeline.first("drift")
        if drift is None and now >= self._traffic_started + timedelta(seconds=self.options.drift_start_s):
            self.timeline.mark(
                "drift",
                self._traffic_started + timedelta(seconds=self.options.drift_start_s),
                f"inputs drift: {self.options.drift_kind}, severity {self.options.drift_severity:g}",
            )
        while True:
            try:
                event, at = self._events.get_nowait()
            except queue.Empty:
                break
            self._handle(event, at)
        alert = self.timeline.first("alert")
        if alert is not None and self.timeline.first("promoted") is None:
            with contextlib.suppress(httpx.HTTPError):  # a busy API server: ask again next turn
                self._follow_retrain(alert.at)
        if self._challenger is not None and (promoted := self._updates.get(self._challenger)) is not None:
            detail = f"version {self._challenger} is champion (was {self._champion})"
            served_first = self._first_served.get(self._challenger)
            if served_first is not None and served_first < promoted:
                # The gate moved the alias before the event went out, and the gateway's
                # registry poll found it first: the alias had moved by then.
                promoted, detail = (
                    served_first,
                    detail + "; the gateway's registry poll saw it before the event",
                )
            self.timeline.mark("promoted", promoted, detail)
        if self.timeline.first("promoted") is not None and self.timeline.first("served") is None:
            served = self._first_served.get(self._challenger)
            if served is not None:
                self.timeline.mark("served", served, f"the gateway answers with version {self._challenger}")
        served_mark = self.timeline.first("served")
        if served_mark is not None and self._challenger is not None:
            quality = judge_recovery(
                self.timeline.windows,
                self._challenger,
                since=served_mark.at,
                min_labeled=max(5, int(self.options.rate_per_s * self.options.window_s * 0.2)),
                needed=self.options.recovery_windows,
            )
            if quality is not None:
                if quality < self.options.recovery_threshold:
                    raise self._why_not()
                self.timeline.mark(
                    "recovered",
                    now,
                    f"live {self.timeline.quality_metric} of version {self._challenger}: {quality:.3f} "
                    f"≥ {self.options.recovery_threshold}",
                )
                return True
        self.view.traffic = (
            f"{traffic.stats.predictions} predictions, {traffic.stats.feedback} feedback, "
            f"versions served {dict(traffic.stats.served_versions)}"
        )
        self.view.phase = self._phase()
        if drift is not None and (now - drift.at).total_seconds() > self.options.loop_timeout_s:
            raise self._why_not()
        return False

    def _phase(self) -> str:
        order = ["served", "promoted", "gated", "trained", "dataset", "dag_start", "alert", "drift"]
        texts = {
            "drift": "drift injected: waiting for the streaming job to alert",
            "alert": "alerted: waiting for Airflow to start the retrain",
            "dag_start": "retraining: building the dataset",
            "dataset": "retraining: training the challenger",
            "trained": "retraining: gate",
            "gated": "gate passed: promoting",
            "promoted": "promoted: waiting for the gateway to serve it",
            "served": "the new champion serves: waiting for its live accuracy",
        }
        for step in order:
            if self.timeline.first(step) is not None:
                return texts[step]
        return f"clean traffic; drift at {self.options.drift_start_s:.0f} s"

    def follow(self) -> None:
        watcher = LoopWatcher(
            self.settings.kafka_bootstrap,
            [self.settings.topics.metrics, self.settings.topics.alerts, self.settings.topics.model_updates],
            self.use_case.model_name,
            since=self.timeline.started,
            on_event=lambda event, at: self._events.put((event, at)),
        ).start()
        traffic = self.traffic = self._traffic()
        self._traffic_started = _now()
        traffic.start()
        self.say(
            f"traffic: {self.options.rate_per_s:g} predictions/s from {self.options.clients} clients, "
            f"{self.options.feedback_coverage:.0%} answered after {self.options.feedback_delay_s[0]:g}-"
            f"{self.options.feedback_delay_s[1]:g} s; {self.options.drift_kind} drift at "
            f"{self.options.drift_start_s:g} s"
        )
        try:
            with Live(self.view, console=self.console, refresh_per_second=2, transient=False):
                while not self._step(traffic):
                    time.sleep(0.5)
                # One more window of the recovered model, for the picture.
                end = time.monotonic() + self.options.window_s + 2
                while time.monotonic() < end:
                    self._step(traffic)
                    time.sleep(0.5)
                if self.options.settle_s > 0:
                    self.settle(traffic)
        finally:
            traffic.stop()
            watcher.stop()

    # After the loop closed ----------------------------------------------------------------
    def settle(self, traffic: _Traffic) -> Stability:
        """The same drifted traffic on the stack's own job (the demo's is cancelled, as in production)
        for ``settle_s``: any further retrain run or promotion makes the loop unstable."""
        assert self._challenger is not None
        recovered = self.timeline.first("recovered")
        alert = self.timeline.first("alert")
        assert recovered is not None and alert is not None
        self.cancel_demo_job()
        self.start_stack_job()
        assert self._champion is not None
        stability = self.stability = Stability(
            _now(), self.options.settle_s, self._challenger, self._champion
        )
        self.say(
            f"stability: {self.options.settle_s:.0f} s more of the same drifted traffic, watched by the "
            "stack's own streaming job; no alert about the new champion may start a retrain"
        )
        end = time.monotonic() + self.options.settle_s
        while (left := end - time.monotonic()) > 0:
            self._drain_after_recovery(stability, recovered.at)
            self.view.phase = (
                f"stability check, {left:.0f} s left: {len(stability.condition_alerts)} alert(s) about the "
                f"new champion, {len(stability.promotions)} promotion(s) so far"
            )
            self.view.traffic = (
                f"{traffic.stats.predictions} predictions, {traffic.stats.feedback} feedback, "
                f"versions served {dict(traffic.stats.served_versions)}"
            )
            time.sleep(1)
        self._drain_after_recovery(stability, recovered.at)
        # Runs the last alerts started decide (their `why` task) within a minute or two.
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(httpx.HTTPError):
                stability.runs = self._runs_since(alert.at)
            if "undecided" not in stability.runs.values() or time.monotonic() > deadline:
                break
            time.sleep(2)
        self.timeline.note("stable" if stability.stable else "unstable", _now(), stability.summary())
        self.say(stability.summary())
        if not stability.stable:
            raise DemoFailed("stable", stability.why_not())
        return stability

    def _drain_after_recovery(self, stability: Stability, since: datetime) -> None:
        while True:
            try:
                event, at = self._events.get_nowait()
            except queue.Empty:
                return
            if at < since:
                continue
            if isinstance(event, AlertEvent):
                window_s = (event.window.end - event.window.start).total_seconds()
                source = (
                    "Prometheus"
                    if event.source == "prometheus"
                    else ("demo job" if window_s == self.options.window_s else event.source)
                )
                stability.alerts.append((source, event.rule, event.model_version, event.kind))
            elif isinstance(event, ModelUpdateEvent) and event.version not in {
                self._champion,
                self._challenger,
            }:
                stability.promotions.append(event.version)
            elif (
                isinstance(event, MetricsEvent)
                and event.model_version == stability.champion
                and event.window.kind == "tumbling"
                and event.window.end - event.window.start != self._window
            ):
                point = WindowPoint.of(event, self.timeline.quality_metric)
                stability.windows = [w for w in stability.windows if w.end != point.end] + [point]

    def _runs_since(self, alert_at: datetime) -> dict[str, str]:
        """Alert-triggered runs created since the loop's alert, but the loop's own, by outcome."""
        runs = [
            run
            for run in self.api.runs(self.dag_id, run_type="asset_triggered", limit=50)
            if _parse(run["run_after"]) >= alert_at and run["dag_run_id"] != self._run_id
        ]
        outcomes = {}
        for run in runs:
            tasks = self.api.task_instances(self.dag_id, run["dag_run_id"])
            passed = tasks.get("why", {}).get("state") == "success"
            reason = self.api.xcom(self.dag_id, run["dag_run_id"], "why") if passed else None
            outcomes[run["dag_run_id"]] = run_outcome(tasks, reason)
        return outcomes

    # Endings ----------------------------------------------------------------------------
    def cancel_demo_job(self) -> None:
        if self._job is not None and self._job_record is not None:
            self._job.terminate(self._job_record, report=self.say)
            self.say("cancelled the demo's streaming job")
        self._job = self._job_record = None

    def tear_down(self) -> None:
        self.cancel_demo_job()
        if self.options.keep_running:
            self.start_stack_job()
            self.say("[bold]--keep-running[/]: the stack stays up; `closeloop down` stops it")
        elif started := ([_STACK_JOB] if self._started_stack_job else []) + self._started_services:
            self.say(f"stopping what the demo started: {', '.join(started)}")
            self.stack.down(started)

    def start_stack_job(self) -> None:
        """The stack's own feedback job, which the demo kept out of its way: the stack left to
        explore has live metrics, and `closeloop status` is all healthy."""
        if any(row.running for row in self.stack.status([_STACK_JOB])):
            return
        self.say("starting the stack's own feedback job (one-minute windows)")
        try:
            self.stack.up(
                [_STACK_JOB], report=lambda service, message: self.say(f"[bold]{service:<16}[/] {message}")
            )
            self._started_stack_job = True
        except CloseloopError as exc:
            self.say(
                f"[red]the stack's feedback job did not start[/]: {exc}; `closeloop up feedback-job` retries"
            )

    def save(self, failure: DemoFailed | None, stats: TrafficStats | None) -> tuple[Path, Path]:
        stamp = self.timeline.started.strftime("%Y%m%dT%H%M%S")
        plot = save_plot(
            self.timeline, self.output_dir / f"demo-{stamp}.png", threshold=self.options.recovery_threshold
        )
        summary = self.output_dir / f"demo-{stamp}.json"
        payload = {
            **self.timeline.to_json(),
            "closed": failure is None,
            "failure": None if failure is None else {"step": failure.step, "why": failure.why},
            "first_champion": self._champion,
            "new_champion": self._challenger,
            "traffic": None
            if stats is None
            else {
                "predictions": stats.predictions,
                "feedback": stats.feedback,
                "failures": dict(stats.failures),
                "served_versions": dict(stats.served_versions),
            },
            "stability": None if self.stability is None else self.stability.to_json(),
            "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(self.options).items()},
        }
        summary.write_text(json.dumps(payload, indent=2) + "\n")
        return plot, summary

    def report(self, result: DemoResult) -> None:
        self.console.print()
        self.console.print(milestones_table(self.timeline, title="timeline (seconds since the demo started)"))
        breakdown = self.timeline.breakdown()
        table = Table(
            title="time to recovery: drift → new champion serving", title_justify="left", min_width=50
        )
        table.add_column("part")
        table.add_column("seconds", justify="right")
        for part, seconds in breakdown.parts.items():
            table.add_row(part, f"{seconds:.1f}")
        if breakdown.total_s is not None:
            table.add_row("[bold]total[/]", f"[bold]{breakdown.total_s:.1f}[/]")
        self.console.print(table)
        self.console.print(f"plot:    {result.plot}\nsummary: {result.summary}")
        if result.failure is None:
            self.console.print(
                f"[green bold]the loop closed[/]: version {self._challenger} replaced {self._champion} "
                "and live "
                f"{self.timeline.quality_metric} recovered above {self.options.recovery_threshold}"
                + (f", {breakdown.total_s:.1f} s after the drift" if breakdown.total_s is not None else "")
            )
        else:
            self.console.print(
                f"[red bold]the loop did not close[/] at step [bold]{result.failure.step}[/]: "
                f"{result.failure.why}"
            )


def run_demo(settings: StackSettings, options: DemoOptions, console: Console | None = None) -> DemoResult:
    """Run the demo; a step that does not happen ends it with a DemoFailed saying why (never raised)."""
    demo = DemoRun(settings, options, console or Console())
    failure: DemoFailed | None = None
    try:
        demo.bring_up()
        demo.prepare()
        demo.follow()
    except DemoFailed as exc:
        failure = exc
    except (CloseloopError, httpx.HTTPError) as exc:
        failure = DemoFailed("stack", str(exc))
    except Exception as exc:  # a bug of the demo's own: still stop what it started, and say so
        demo.console.print_exception()
        failure = DemoFailed("demo", f"{type(exc).__name__}: {exc}")
    finally:
        demo.tear_down()
    stats = demo.traffic.stats if demo.traffic is not None else None
    plot, summary = demo.save(failure, stats)
    result = DemoResult(demo.timeline, plot, summary, failure, stats, demo.stability)
    demo.report(result)
    return result
