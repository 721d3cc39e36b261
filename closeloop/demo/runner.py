"""`closeloop demo`: the closed loop, end to end, on the real local stack.

Bring the stack up; train and promote a first model of the use case through the
retrain DAG; submit the streaming job with windows of seconds; send traffic
with delayed, partial feedback; drift the inputs at a set time; then follow
the loop on Kafka and through Airflow's REST API until a new champion serves
and its live quality has recovered, or say which step did not happen and why.

This module only runs the parts in order: setup (stack, first champion, the
demo's job, the traffic), loop (the state machine over the timeline), settle
(the `--settle` phase), report (summary and presentation).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
from rich.console import Console
from rich.live import Live

from closeloop.demo.display import LiveView, Narrator
from closeloop.demo.loop import LoopMachine
from closeloop.demo.options import DemoFailed, DemoOptions
from closeloop.demo.report import DemoResult, print_report, save_summary
from closeloop.demo.retrain import RetrainFollower
from closeloop.demo.settle import SettlePhase
from closeloop.demo.setup import DemoSetup
from closeloop.demo.simulator import TrafficThread
from closeloop.demo.timeline import Timeline
from closeloop.demo.watcher import LoopWatcher
from closeloop.errors import CloseloopError
from closeloop.stack.settings import StackSettings
from training.usecases import get_use_case

__all__ = ["run_demo"]

#: Seconds between two turns of the loop.
_TURN_S = 0.5


class _DemoRun:
    def __init__(self, settings: StackSettings, options: DemoOptions, console: Console) -> None:
        self.settings = settings
        self.options = options
        self.console = console
        self.use_case = get_use_case(options.use_case)
        self.timeline = Timeline(datetime.now(UTC), self.use_case.primary_metric)
        self.view = LiveView(self.timeline, options.recovered)
        self.say = Narrator(console, self.timeline)
        self.setup = DemoSetup(settings, options, console, self.use_case, self.say)
        self.retrain: RetrainFollower | None = None
        self.traffic: TrafficThread | None = None
        self.settle: SettlePhase | None = None

    def follow(self) -> None:
        """Traffic on, drift at its time, the loop followed turn by turn until it closes (and settles)."""
        assert self.setup.champion is not None, "setup.prepare() first"
        retrain = self.retrain = RetrainFollower(
            self.setup.api, self.setup.dag_id, self.timeline, self.view.retrain
        )
        loop = LoopMachine(
            self.timeline,
            self.view,
            self.options,
            champion=self.setup.champion,
            dag_id=self.setup.dag_id,
            retrain=retrain,
        )
        topics = self.settings.topics
        watcher = LoopWatcher(
            self.settings.kafka_bootstrap,
            [topics.metrics, topics.alerts, topics.model_updates],
            self.use_case.model_name,
            since=self.timeline.started,
            on_event=loop.put,
        ).start()
        traffic = self.traffic = self.setup.traffic(loop.on_prediction)
        loop.traffic_started = datetime.now(UTC)
        traffic.start()
        options = self.options
        self.say(
            f"traffic: {options.rate_per_s:g} predictions/s from {options.clients} clients, "
            f"{options.feedback_coverage:.0%} answered after {options.feedback_delay_s[0]:g}-"
            f"{options.feedback_delay_s[1]:g} s; {options.drift_kind} drift at "
            f"{options.drift_start_s:g} s"
        )
        try:
            with Live(self.view, console=self.console, refresh_per_second=2, transient=False):
                while not loop.step(traffic.stats):
                    time.sleep(_TURN_S)
                # One more window of the recovered model, for the picture.
                end = time.monotonic() + options.window_s + 2
                while time.monotonic() < end:
                    loop.step(traffic.stats)
                    time.sleep(_TURN_S)
                if options.settle_s > 0:
                    self.settle = SettlePhase(loop, self.setup, retrain, self.say)
                    self.settle.run(traffic)
        finally:
            traffic.stop()
            watcher.stop()


def run_demo(settings: StackSettings, options: DemoOptions, console: Console | None = None) -> DemoResult:
    """Run the demo; a step that does not happen ends it with a DemoFailed saying why (never raised)."""
    demo = _DemoRun(settings, options, console or Console())
    failure: DemoFailed | None = None
    try:
        demo.setup.bring_up()
        demo.setup.prepare()
        demo.follow()
    except DemoFailed as exc:
        failure = exc
    except (CloseloopError, httpx.HTTPError) as exc:
        failure = DemoFailed("stack", str(exc))
    except Exception as exc:  # a bug of the demo's own: still stop what it started, and say so
        demo.console.print_exception()
        failure = DemoFailed("demo", f"{type(exc).__name__}: {exc}")
    finally:
        demo.setup.tear_down()
    stats = demo.traffic.stats if demo.traffic is not None else None
    stability = demo.settle.stability if demo.settle is not None else None
    new_champion = demo.retrain.challenger if demo.retrain is not None else None
    plot, summary = save_summary(
        demo.timeline,
        options,
        options.output_dir or demo.setup.stack.layout.state / "demo",
        failure=failure,
        first_champion=demo.setup.champion,
        new_champion=new_champion,
        stats=stats,
        stability=stability,
    )
    result = DemoResult(demo.timeline, plot, summary, failure, stats, stability)
    print_report(demo.console, result, options, first_champion=demo.setup.champion, new_champion=new_champion)
    if options.keep_running and (url := demo.setup.models_page_url()):
        demo.console.print(f"[bold]Models page[/] (log in to Airflow): {url}", soft_wrap=True)
    return result
