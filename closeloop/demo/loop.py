"""The demo's loop as a state machine over its timeline: drift, alert, retrain, promotion, recovery.

Each turn (:meth:`LoopMachine.step`) reads what came in since the last one:
the watcher's events from Kafka, the versions the gateway answered with, the
loop's retrain run in Airflow. It marks the milestones they prove on the
timeline, in the order of timeline.STEPS, and tells the live view which one
it waits for. The turn that finds the new champion's live quality recovered
returns True; one that finds it short, or the loop not closed in time,
raises DemoFailed naming the first milestone that never came.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from closeloop.demo.display import LiveView, traffic_line
from closeloop.demo.options import DemoFailed, DemoOptions
from closeloop.demo.simulator import TrafficStats
from closeloop.demo.timeline import Timeline, judge_recovery
from closeloop.events import AlertEvent, Event, MetricsEvent, ModelUpdateEvent

__all__ = ["LoopMachine", "RetrainSource"]

#: Milestones from the last to the first, and what the loop waits for once each is reached.
_PHASES = {
    "served": "the new champion serves: waiting for its live quality",
    "promoted": "promoted: waiting for the gateway to serve it",
    "canary": "the canary serves its share: waiting for the live gate",
    "gated": "gate passed: promoting",
    "trained": "retraining: gate",
    "dataset": "retraining: training the challenger",
    "dag_start": "retraining: building the dataset",
    "alert": "alerted: waiting for Airflow to start the retrain",
    "drift": "drift injected: waiting for the streaming job to alert",
}


class RetrainSource(Protocol):
    """Where the loop's retrain run is followed (closeloop.demo.retrain.RetrainFollower)."""

    challenger: str | None
    #: Whether the challenger went out as a canary; then the live gate's verdict, once given.
    canary: bool
    verdict: dict[str, Any] | None

    def follow(self, alert_at: datetime) -> None: ...


class LoopMachine:
    """The loop's state: the timeline's milestones, and what they wait for."""

    def __init__(
        self,
        timeline: Timeline,
        view: LiveView,
        options: DemoOptions,
        *,
        champion: str,
        dag_id: str,
        retrain: RetrainSource,
    ) -> None:
        self.timeline = timeline
        self.view = view
        self.options = options
        self.champion = champion
        self.dag_id = dag_id
        self.retrain = retrain
        #: Events from the watcher's thread, with the time Kafka stamped them.
        self.events: queue.Queue[tuple[Event, datetime]] = queue.Queue()
        #: When the traffic started: the drift starts ``drift_start_s`` later.
        self.traffic_started = timeline.started
        #: When each version first answered, as the champion or as the canary.
        self._first_served: dict[tuple[str, str], datetime] = {}
        self._served_lock = threading.Lock()
        self._updates: dict[str, datetime] = {}
        self._window = timedelta(seconds=options.window_s)

    @property
    def challenger(self) -> str | None:
        return self.retrain.challenger

    # Inputs from other threads ------------------------------------------------------------
    def put(self, event: Event, at: datetime) -> None:
        """An event the watcher saw (its thread); the next turn handles it."""
        self.events.put((event, at))

    def on_prediction(self, _at_s: float, served: dict[str, Any]) -> None:
        """A prediction the gateway answered (the traffic's thread): when each version was first served,
        as the champion or as the canary."""
        key = (served["model_version"], served.get("served_as", "champion"))
        if key not in self._first_served:
            with self._served_lock:
                self._first_served.setdefault(key, datetime.now(UTC))

    # Turns ------------------------------------------------------------------------------
    def handle(self, event: Event, at: datetime) -> None:
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
        elif (
            isinstance(event, ModelUpdateEvent)
            and event.alias == "champion"
            and event.version != self.champion
        ):
            # Which update is the loop's own is known once its run's gate has passed.
            self._updates.setdefault(event.version, at)

    def step(self, stats: TrafficStats, now: datetime | None = None) -> bool:
        """One turn of the loop; True once the loop has closed."""
        if now is None:
            now = datetime.now(UTC)
        drift = self.timeline.first("drift")
        if drift is None and now >= self.traffic_started + timedelta(seconds=self.options.drift_start_s):
            self.timeline.mark(
                "drift",
                self.traffic_started + timedelta(seconds=self.options.drift_start_s),
                f"inputs drift: {self.options.drift_kind}, severity {self.options.drift_severity:g}",
            )
        while True:
            try:
                event, at = self.events.get_nowait()
            except queue.Empty:
                break
            self.handle(event, at)
        alert = self.timeline.first("alert")
        undecided = self.retrain.canary and self.retrain.verdict is None
        if alert is not None and (self.timeline.first("promoted") is None or undecided):
            with contextlib.suppress(httpx.HTTPError):  # a busy API server: ask again next turn
                self.retrain.follow(alert.at)
        challenger = self.challenger
        as_canary = self._first_served.get((challenger or "", "canary"))
        if self.retrain.canary and as_canary is not None and self.timeline.first("canary") is None:
            share = f"{self.options.canary_share:.0%}"
            self.timeline.mark("canary", as_canary, f"the gateway sends {share} of requests to {challenger}")
        if challenger is not None and (promoted := self._updates.get(challenger)) is not None:
            detail = f"version {challenger} is champion (was {self.champion})"
            served_first = self._first_served.get((challenger, "champion"))
            if served_first is not None and served_first < promoted:
                # The gate moved the alias before the event went out, and the gateway's
                # registry poll found it first: the alias had moved by then.
                promoted, detail = (
                    served_first,
                    detail + "; the gateway's registry poll saw it before the event",
                )
            self.timeline.mark("promoted", promoted, detail)
        if self.timeline.first("promoted") is not None and self.timeline.first("served") is None:
            served = self._first_served.get((challenger, "champion")) if challenger is not None else None
            if served is not None:
                self.timeline.mark(
                    "served", served, f"the gateway answers with version {challenger} as the champion"
                )
        served_mark = self.timeline.first("served")
        if served_mark is not None and challenger is not None:
            quality = judge_recovery(
                self.timeline.windows,
                challenger,
                since=served_mark.at,
                min_labeled=max(5, int(self.options.rate_per_s * self.options.window_s * 0.2)),
                needed=self.options.recovery_windows,
            )
            if quality is not None:
                if not self.options.recovered(quality):
                    raise self.why_not()
                self.timeline.mark(
                    "recovered",
                    now,
                    f"live {self.timeline.quality_metric} of version {challenger}: {quality:.3f} "
                    f"{self.options.at_least} {self.options.threshold:g}",
                )
                return True
        self.view.traffic = traffic_line(stats)
        self.view.phase = self.phase()
        if drift is not None and (now - drift.at).total_seconds() > self.options.loop_timeout_s:
            raise self.why_not()
        return False

    def phase(self) -> str:
        """What the loop waits for, after the last milestone reached."""
        for step, text in _PHASES.items():
            if self.timeline.first(step) is not None:
                return text
        return f"clean traffic; drift at {self.options.drift_start_s:.0f} s"

    def why_not(self) -> DemoFailed:
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
            "canary": f"version {self.challenger} is the canary but the gateway never served it",
            "promoted": f"the retrain run did not move the champion alias: {self.view.retrain.url}",
            "served": f"version {self.challenger} was promoted but the gateway never served it",
            "recovered": f"version {self.challenger}'s live {self.timeline.quality_metric} stayed below "
            f"{self.options.threshold:g} (last windows: {seen})",
        }
        why = reasons.get(
            missing, f"the retrain run did not finish its {missing} step: {self.view.retrain.url}"
        )
        return DemoFailed(missing, f"{why} (gave up {self.options.loop_timeout_s:.0f} s after the drift)")
