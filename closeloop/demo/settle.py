"""The demo's `--settle` phase: after recovery, the same drifted traffic must set nothing more off.

The demo's streaming job is cancelled and the stack's own job watches the
traffic, as in production, for ``settle_s``; every alert, promotion and window
of the new champion seen meanwhile goes into a Stability (closeloop.demo.stability
judges it), then the runs the last alerts started get a few minutes to decide.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from closeloop.demo.display import traffic_line
from closeloop.demo.loop import LoopMachine
from closeloop.demo.options import DemoFailed
from closeloop.demo.retrain import RetrainFollower
from closeloop.demo.setup import DemoSetup
from closeloop.demo.simulator import TrafficThread
from closeloop.demo.stability import Stability
from closeloop.demo.timeline import WindowPoint
from closeloop.events import AlertEvent, Event, MetricsEvent, ModelUpdateEvent
from closeloop.waiting import WaitTimeout, wait_until

__all__ = ["SettlePhase", "record_after_recovery"]

#: How long the runs the last alerts started get to decide (their `why` task): a minute or two.
_DECIDE_S = 180.0
#: Seconds between two looks at the runs, and between two turns of the settle phase's view.
_DECIDE_POLL_S = 2.0
_TURN_S = 1.0


def record_after_recovery(stability: Stability, event: Event, *, window_s: int, quality_metric: str) -> None:
    """Add one event seen after the loop closed to what the settle phase saw.

    Alerts by source (the demo's job has ``window_s`` windows); promotions of
    a version other than the two champions; the stack job's tumbling windows
    of the new champion (a replayed window replaces its first copy).
    """
    if isinstance(event, AlertEvent):
        seconds = (event.window.end - event.window.start).total_seconds()
        source = (
            "Prometheus"
            if event.source == "prometheus"
            else ("demo job" if seconds == window_s else event.source)
        )
        stability.alerts.append((source, event.rule, event.model_version, event.kind))
    elif isinstance(event, ModelUpdateEvent) and event.alias == "champion":
        if event.version not in {stability.replaced, stability.champion}:
            stability.promotions.append(event.version)
    elif (
        isinstance(event, MetricsEvent)
        and event.model_version == stability.champion
        and event.window.kind == "tumbling"
        and event.window.end - event.window.start != timedelta(seconds=window_s)
    ):
        point = WindowPoint.of(event, quality_metric)
        stability.windows = [w for w in stability.windows if w.end != point.end] + [point]


class SettlePhase:
    def __init__(
        self,
        loop: LoopMachine,
        setup: DemoSetup,
        retrain: RetrainFollower,
        say: Callable[[str], None],
    ) -> None:
        self.loop = loop
        self.setup = setup
        self.retrain = retrain
        self.say = say
        self.options = loop.options
        #: What the phase has seen so far; set as it starts, so a failure still reports it.
        self.stability: Stability | None = None

    def run(self, traffic: TrafficThread) -> Stability:
        """The same drifted traffic on the stack's own job (the demo's is cancelled, as in production)
        for ``settle_s``: any further retrain run or promotion makes the loop unstable."""
        timeline, view = self.loop.timeline, self.loop.view
        challenger = self.loop.challenger
        assert challenger is not None
        recovered = timeline.first("recovered")
        alert = timeline.first("alert")
        assert recovered is not None and alert is not None
        self.setup.cancel_demo_job()
        self.setup.start_stack_job()
        stability = self.stability = Stability(
            datetime.now(UTC), self.options.settle_s, challenger, self.loop.champion
        )
        self.say(
            f"stability: {self.options.settle_s:.0f} s more of the same drifted traffic, watched by the "
            "stack's own streaming job; no alert about the new champion may start a retrain"
        )
        end = time.monotonic() + self.options.settle_s
        while (left := end - time.monotonic()) > 0:
            self._drain(stability, recovered.at)
            view.phase = (
                f"stability check, {left:.0f} s left: {len(stability.condition_alerts)} alert(s) about the "
                f"new champion, {len(stability.promotions)} promotion(s) so far"
            )
            view.traffic = traffic_line(traffic.stats)
            time.sleep(_TURN_S)
        self._drain(stability, recovered.at)

        def decided() -> bool:
            stability.runs = self.retrain.runs_since(alert.at)
            return "undecided" not in stability.runs.values()

        # Runs still undecided after that are reported as such: the alerts they hold are in `alerts`.
        with contextlib.suppress(WaitTimeout):
            wait_until(
                decided,
                _DECIDE_S,
                "the retrain runs since the alert to decide",
                interval=_DECIDE_POLL_S,
                retry_on=httpx.HTTPError,  # a busy API server: ask again
            )
        timeline.note("stable" if stability.stable else "unstable", datetime.now(UTC), stability.summary())
        self.say(stability.summary())
        if not stability.stable:
            raise DemoFailed("stable", stability.why_not())
        return stability

    def _drain(self, stability: Stability, since: datetime) -> None:
        while True:
            try:
                event, at = self.loop.events.get_nowait()
            except queue.Empty:
                return
            if at >= since:
                record_after_recovery(
                    stability,
                    event,
                    window_s=self.options.window_s,
                    quality_metric=self.loop.timeline.quality_metric,
                )
