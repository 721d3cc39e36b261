"""The feedback job against a plain Python consumer, on the same CPUs, and its drift against Evidently.

    .local/venv/bin/python bench/flink_job.py --features 8 64 --memory    # the full matrix
    .local/venv/bin/python bench/flink_job.py --million-pairs 0.02 --runs 1 --stack idle \\
        --state hashmap --live-seconds 15                                 # a quick check
    .local/venv/bin/python bench/flink_job.py --drift-only                # no stack needed

Defaults: 2 M pairs, 8 features, parallelism 1 and 2, RocksDB and hashmap
state, the idle and the busy stack, 3 runs per cell (medians), a 60 s live
phase, no memory runs (--memory: windows of 10k and 1M predictions).

1. Backlog, once per --features count: N million prediction + feedback pairs
   of a classifier, spread over the recent past at BACKLOG_RATE pairs per
   second of event time, in fresh 2-partition topics (key: the prediction id,
   so a prediction and its feedback share a partition).
2. Python baseline (bench/python_consumer.py), --runs times per features count
   and stack, pinned to the TaskManager's CPUs: one process reading every
   partition of both topics, with the job's contract checks, deduplication,
   label choice (first feedback by event time, then offset), watermark,
   tumbling and sliding windows per model version (counts, accuracy, macro F1,
   latency p50/p95/p99, drift of the same hash sample against the same
   reference profile). No lake, no checkpoints, nothing published. Its rate:
   the backlog's pairs / wall time; its CPU: user + system seconds of the
   process, per million pairs.
3. The feedback job, one cell per parallelism x state backend x stack, each
   the median of --runs runs. Each run submits the job under a fresh name
   (so a fresh consumer group: it reads the same backlog from the start), via
   FeedbackJobService like `closeloop up`, and cancels it after. Its rate:
   labeled pairs its tumbling windows count per second of wall time, between
   20 % and 90 % of the backlog (start-up is not in it). Its CPU: utime +
   stime of the TaskManager JVM and its descendants (PyFlink's Python
   workers), sampled every 0.5 s and interpolated at the 20 % and 90 % marks,
   per million pairs processed in between. The TaskManager is shared: other
   jobs on the cluster are named when they run, as their work counts too.
   Stack `idle`: only Kafka, MinIO and Flink (as `closeloop up kafka minio
   flink` leaves it; other services found running are named); `busy`: the
   whole stack, brought up after every idle cell has run (and left up),
   optionally with --busy-rate pairs/s into its own topics.
4. CPUs: --cpus 0,1 pins the TaskManager (every thread of it and of its
   descendants) and the baseline to that set, and puts the TaskManager back
   at the end; by default the baseline takes the TaskManager's own set.
5. Live, once (the first features count, parallelism 2 / RocksDB / idle if
   that cell is run, else the first cell): after the backlog, pairs stamped
   with the current time at half that run's sustained rate (or --live-rate)
   for --live-seconds; per window, the delay from the window's end to its
   metrics event and to its alert (a rule that fires every window) on Kafka.
6. Memory (--memory): the job at parallelism 1 per state backend, on a
   backlog whose one tumbling window holds N predictions (--memory-windows,
   window length N / BACKLOG_RATE s, left open): the largest state size of a
   completed checkpoint (Flink REST, every 10 s), the windows' own part of it
   (their global aggregates' vertices; pair_join keeps every id for the label
   delay by design), and the TaskManager's heap used while it works through
   it, and their ratio largest N / smallest N.
7. Profile (--profile SECONDS): the first run of the first cell, once 30 %
   of the backlog is through, under Flink's profiler (async-profiler, ITIMER,
   every thread of the TaskManager) for SECONDS: its flame graph is saved
   under the stack's state folder (bench/) and the share of the samples each
   stage of the job took is printed (bench/flame.py). That run's rate bears
   the profiler's small cost.
8. Drift of one 10k-row x 64-feature window: the job's computation in its
   Python twin (each row's bins, window_counts, then PSI and JS from the
   counts, column_drift), from parsed rows as the job bins parsed events,
   against Evidently's DataDriftPreset on the same rows as DataFrames.

The bench's topics and lake objects are deleted at the end (--keep-data keeps them).

The last line is `pairs_per_s=… vs_python=… scaling_p2=… alert_p95_s=…
drift_vs_evidently=… cpu_s_per_mpairs=…` for parallelism 2, RocksDB, the idle
stack and the first features count: the job's median rate, over the Python
baseline's; parallelism 2 over 1; the live alerts' p95 delay; Evidently's time
over ours; the job's CPU seconds per million pairs. `nan` where not measured.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import re
import shutil
import signal
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from confluent_kafka import Consumer, Producer, TopicPartition
from flame import LOAD_METRICS, chain_name, stages, vertex_loads
from flink_taskmanager import CpuSampler, FlinkRest, cpu_list, pin, taskmanager_pid
from minio.deleteobjects import DeleteObject
from python_consumer import PARSER, BaselineResult, WindowSpec, run_baseline
from rich.console import Console
from rich.table import Table

from closeloop.config import Settings, Topics
from closeloop.events import AlertEvent, MetricsEvent, decode
from closeloop.kafka.admin import admin_client, ensure_topics
from closeloop.monitoring.drift import column_drift, window_counts
from closeloop.monitoring.profiles import ReferenceProfile, build_profile, save_profile
from closeloop.s3 import s3_client
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.feedback_job import FeedbackJobService
from closeloop.stack.settings import get_stack_settings
from closeloop.streaming.checkpoints import job_checkpoints_dir, local_path
from closeloop.streaming.settings import FeedbackJobSettings

console = Console()
MODEL, VERSION, CLASSES = "bench", "1", 10
WINDOW_S, SLIDING_S, OUT_OF_ORDERNESS_S, LABEL_DELAY_S = 10, 60, 1, 3600
CHECKPOINT_S = 10
BACKLOG_RATE = 1000  # pairs per second of event time in the backlog
PARTITIONS = 2
# Drift from a 10 % hash-sample of the inputs, in the job and in the baseline:
# at 1000 predictions/s a 60 s window's inputs would not fit the local heap.
DRIFT_SAMPLE_RATE = 0.1
IDLE_SERVICES = ("kafka", "minio", "flink")
#: The job vertices that hold the windows' state: their global aggregates (a chain's name starts
#: with its first operator's).
WINDOWS = re.compile(r"^GlobalWindowAggregate")
EVERY_WINDOW = """
rules:
  - {name: every-window, kind: quality, metric: quality.accuracy, comparison: "<", threshold: 2,
     min_samples: 1, consecutive: 1, cooldown_s: 0}
"""


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def pair(i: int, t: float, features: int, rng: random.Random) -> tuple[bytes, bytes, bytes]:
    """(key, prediction JSON, feedback JSON) as the gateway writes them; built by hand for speed."""
    pid = f"p{i}"
    inputs = ",".join(f'"x{k}":{rng.gauss(0, 1):.4f}' for k in range(features))
    output = rng.randrange(CLASSES)
    truth = output if rng.random() < 0.8 else rng.randrange(CLASSES)
    # `ts` first, as closeloop.events.encode writes it.
    prediction = (
        f'{{"ts":"{_ts(t)}","schema":"closeloop.prediction.v1","prediction_id":"{pid}",'
        f'"model_name":"{MODEL}","model_version":"{VERSION}","task":"classification",'
        f'"inputs":{{{inputs}}},"output":{output},"latency_ms":{rng.uniform(1, 30):.3f}}}'
    )
    feedback = (
        f'{{"ts":"{_ts(t + rng.uniform(0.2, 0.8))}","schema":"closeloop.feedback.v1",'
        f'"prediction_id":"{pid}","feedback_id":"f{i}","ground_truth":{truth},"source":"bench"}}'
    )
    return pid.encode(), prediction.encode(), feedback.encode()


def reference(features: int, rows: int = 20_000) -> ReferenceProfile:
    rng = np.random.default_rng(3)
    columns = {f"x{k}": rng.normal(0, 1, rows).tolist() for k in range(features)}
    return build_profile(MODEL, VERSION, columns, outputs=rng.integers(0, CLASSES, rows).tolist())


def _produce(producer: Producer, topic: str, value: bytes, key: bytes, partition: int | None = None) -> None:
    while True:
        try:
            if partition is None:
                producer.produce(topic, value, key)
            else:
                producer.produce(topic, value, key, partition=partition)
            return
        except BufferError:
            producer.poll(0.05)


def preload(
    settings: Settings, topics: Topics, pairs: int, features: int, *, start: float, marker: bool = True
) -> float:
    """Send ``pairs`` pairs from event time ``start`` on; returns the seconds it took."""
    rng = random.Random(5)
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    began = time.perf_counter()
    with console.status("") as status:
        for i in range(pairs):
            key, prediction, feedback = pair(i, start + i / BACKLOG_RATE, features, rng)
            _produce(producer, topics.predictions, prediction, key)
            _produce(producer, topics.feedback, feedback, key)
            if i % 50_000 == 0:
                producer.poll(0)
                status.update(f"preloading: {i:,} of {pairs:,} pairs, {features} features")
        if marker:
            # A pair a window later in every partition moves the watermark (the
            # slowest partition's) past the backlog's last window, which would
            # otherwise stay open until the live phase.
            later = start + pairs / BACKLOG_RATE + WINDOW_S + OUT_OF_ORDERNESS_S + 1
            for p in range(PARTITIONS):
                key, prediction, feedback = pair(pairs + p, later, features, rng)
                _produce(producer, topics.predictions, prediction, key, p)
                _produce(producer, topics.feedback, feedback, key, p)
        assert producer.flush(300) == 0, "the backlog did not reach Kafka"
    return time.perf_counter() - began


@dataclass
class Backlog:
    """One features count's topics, profile and rules; every run reads them from the start."""

    prefix: str
    pairs: int
    features: int
    profile: ReferenceProfile
    rules: Path

    @property
    def topics(self) -> Topics:
        return Topics(self.prefix)

    @classmethod
    def create(
        cls, settings: Settings, pairs: int, features: int, *, start: float, marker: bool = True
    ) -> Backlog:
        prefix = f"bench-{uuid.uuid4().hex[:6]}"
        topics = Topics(prefix)
        ensure_topics(settings.kafka_bootstrap, topics.all(), partitions=PARTITIONS)
        profile = reference(features)
        save_profile(s3_client(settings), settings.lake_bucket, f"{prefix}/profiles", profile)
        rules = Path(f"/tmp/{prefix}-rules.yaml")
        rules.write_text(EVERY_WINDOW)
        sent_s = preload(settings, topics, pairs, features, start=start, marker=marker)
        console.log(f"{prefix}: preloaded {pairs:,} pairs of {features} features in {sent_s:.1f} s")
        return cls(prefix, pairs, features, profile, rules)


# The feedback job ------------------------------------------------------------------------


@dataclass
class Arrivals:
    """What a consumer thread saw arrive on the metrics and alerts topics, with wall times.

    It starts at the topics' ends: earlier runs over the same topics wrote there too.
    """

    metrics: list[tuple[float, MetricsEvent]] = field(default_factory=list)
    alerts: list[tuple[float, AlertEvent]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def follow(self, settings: Settings, topics: Topics) -> threading.Thread:
        consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "group.id": f"bench-{uuid.uuid4().hex}",
                "fetch.wait.max.ms": 10,
            }
        )
        assignment = []
        for topic in (topics.metrics, topics.alerts):
            for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                assignment.append(TopicPartition(topic, p, high))
        consumer.assign(assignment)

        def run() -> None:
            while not self.stop.is_set():
                for message in consumer.consume(500, timeout=0.05):
                    if message.error() is None:
                        event = decode(message.value() or b"")
                        if isinstance(event, MetricsEvent):
                            self.metrics.append((time.time(), event))
                        elif isinstance(event, AlertEvent):
                            self.alerts.append((time.time(), event))
            consumer.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def labeled(self) -> int:
        return sum(e.labeled for _, e in self.metrics if e.window.kind == "tumbling")


@dataclass(frozen=True)
class Cell:
    parallelism: int
    state: str
    stack: str

    def __str__(self) -> str:
        return f"p{self.parallelism}/{self.state}/{self.stack}"


@dataclass
class FlinkRun:
    rate: float
    cpu_s_per_mpairs: float
    others: list[str]
    metric_delays: np.ndarray | None = None
    alert_delays: np.ndarray | None = None
    live_rate: float = math.nan
    profile: Path | None = None  # its flame graph, when profiled
    loads: list[tuple[str, float, float, float]] = field(default_factory=list)  # per vertex, when profiled


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """CLOSELOOP_* for one submission, put back after: `closeloop up` of the busy stack must not see them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def job_environment(backlog: Backlog, job_name: str, cell: Cell, **overrides: object) -> dict[str, str]:
    job: dict[str, object] = {
        "topic_prefix": backlog.prefix,
        "job_name": job_name,
        "profiles_prefix": f"{backlog.prefix}/profiles",
        # One lake folder per run: every run writes the whole backlog's examples.
        "lake_prefix": f"{backlog.prefix}/lake/{job_name}",
        "window_s": WINDOW_S,
        "sliding_window_s": SLIDING_S,
        "out_of_orderness_s": OUT_OF_ORDERNESS_S,
        "label_delay_s": LABEL_DELAY_S,
        # Never idle: with 2 partitions and parallelism 1 or 2 every reader has data.
        "idle_timeout_s": 0,
        "alert_rules": backlog.rules,
        "drift_sample_rate": DRIFT_SAMPLE_RATE,
        "checkpoint_interval_s": CHECKPOINT_S,
        "job_parallelism": cell.parallelism,
        "state_backend": cell.state,
        **overrides,
    }
    return {f"CLOSELOOP_{name.upper()}": str(value) for name, value in job.items()}


def sustained_rate(arrivals: Arrivals, pairs: int) -> tuple[float, float, int, float, int]:
    """(labeled pairs per second between 20 % and 90 % of the backlog, t20, n20, t90, n90)."""
    total, marks = 0, {}
    for at, event in arrivals.metrics:
        if event.window.kind == "tumbling":
            total += event.labeled
            for share in (0.2, 0.9):
                if share not in marks and total >= share * pairs:
                    marks[share] = (at, total)
    (t20, n20), (t90, n90) = marks[0.2], marks[0.9]
    if t90 - t20 < 1.0:
        # A backlog of a few windows: they arrive together, no rate can be read off them.
        return math.nan, t20, n20, t90, n90
    return (n90 - n20) / (t90 - t20), t20, n20, t90, n90


def live(settings: Settings, topics: Topics, seconds: float, rate: float, features: int, first: int) -> float:
    """Pairs at ``rate`` per second stamped with the current time; returns when it started."""
    rng = random.Random(9)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
    began, sent = time.time(), first
    while (now := time.time()) < began + seconds:
        due = first + int((now - began) * rate)
        for n in range(sent, due):
            key, prediction, feedback = pair(n, time.time(), features, rng)
            _produce(producer, topics.predictions, prediction, key)
            _produce(producer, topics.feedback, feedback, key)
        sent = max(sent, due)
        producer.poll(0)
        time.sleep(0.01)
    producer.flush(30)
    return began


def delays(
    arrivals: list[tuple[float, MetricsEvent | AlertEvent]], since: float, until: float = math.inf
) -> np.ndarray:
    """Seconds from each tumbling window's end to its first arrival, for windows ending in (since, until]."""
    first: dict[tuple, float] = {}
    for at, event in arrivals:
        window = event.window
        if window.kind == "tumbling" and since < window.end.timestamp() <= until:
            first.setdefault((type(event), window.start), at - window.end.timestamp())
    return np.asarray(sorted(first.values()))


class Bench:
    """The stack, the cluster and the CPU set every run of one invocation shares."""

    def __init__(self, settings: Settings, stack: LocalStack, cpus: set[int] | None) -> None:
        self.settings, self.stack = settings, stack
        self.rest = FlinkRest(stack.services["flink"].url)  # type: ignore[attr-defined]
        self.requested = cpus
        self.pinned: dict[int, set[int]] = {}  # TaskManager pid -> its affinity before the bench
        self.ours: set[str] = set()  # job ids this bench submitted
        self.seen: set[str] = set()  # the CPU sets the runs had, as taskset lists

    def cpu_set(self) -> set[int]:
        """The TaskManager's CPU set: --cpus (applied to it here) or its own."""
        pid = taskmanager_pid()
        if self.requested is not None:
            if pid not in self.pinned:
                self.pinned[pid] = os.sched_getaffinity(pid)
            pin(pid, self.requested)  # again each run: a restarted TaskManager, new workers
            cpus = set(self.requested)
        else:
            cpus = os.sched_getaffinity(pid)
        self.seen.add(cpu_list(cpus))
        return cpus

    def unpin(self) -> None:
        for pid, cpus in self.pinned.items():
            with contextlib.suppress(OSError):
                pin(pid, cpus)
                console.log(f"TaskManager {pid}: CPUs back to {cpu_list(cpus)}")

    def wait_for_slots(self, needed: int) -> None:
        if self.rest.free_slots() >= needed:
            return
        with console.status("") as status:
            while (free := self.rest.free_slots()) < needed:
                names = ", ".join(sorted(self.rest.running_jobs().values())) or "none"
                status.update(f"waiting for {needed} free task slots ({free} free; jobs running: {names})")
                time.sleep(5)

    def not_idle(self) -> list[str]:
        """Services of the stack beyond Kafka, MinIO and Flink that run now."""
        return [s.name for s in self.stack.status() if s.running and s.name not in IDLE_SERVICES]

    @contextlib.contextmanager
    def job(
        self,
        env: dict[str, str],
        parallelism: int,
        service_class: type[FeedbackJobService] = FeedbackJobService,
    ) -> Iterator[str]:
        """Submit the job with ``env``; cancel it (and drop its checkpoints) however the block ends."""
        self.wait_for_slots(parallelism)
        with environment(env):
            service = service_class(self.settings, self.stack.layout)
            name = env["CLOSELOOP_JOB_NAME"]
            checkpoints = local_path(job_checkpoints_dir(service.checkpoints_dir, name))
            try:
                record = service.start()
            except BaseException:
                # Stopped while `flink run` was submitting: the job may be up without a record.
                for jid in [j for j, n in self.rest.running_jobs().items() if n == name]:
                    self.rest.cancel(jid)
                raise
        assert record.job_id is not None
        self.ours.add(record.job_id)
        try:
            yield record.job_id
        finally:
            service.terminate(record, report=console.log)
            state = self.rest.wait_over(record.job_id)
            if state != "CANCELED":
                console.log(f"[yellow]job {name} ended {state}[/]")
            if checkpoints is not None:
                # Retained on cancel by the job's settings; only this run's, named after it.
                shutil.rmtree(checkpoints, ignore_errors=True)

    def check_running(self, job_id: str) -> None:
        if (state := self.rest.state(job_id)) not in {"RUNNING", "INITIALIZING", "CREATED", "RESTARTING"}:
            raise SystemExit(f"the feedback job {job_id} is {state}; see the Flink UI's exceptions tab")

    def others(self) -> list[str]:
        return sorted(name for jid, name in self.rest.running_jobs().items() if jid not in self.ours)


def flink_run(
    bench: Bench,
    backlog: Backlog,
    cell: Cell,
    run: int,
    live_s: float,
    live_rate: float | None,
    profile_s: int = 0,
) -> FlinkRun:
    """One submission over the backlog: its sustained rate, its CPU per million pairs, the live phase."""
    pairs, topics = backlog.pairs, backlog.topics
    job_name = f"{backlog.prefix}-p{cell.parallelism}-{cell.state}-{cell.stack}-r{run}"
    bench.cpu_set()  # pins a (re)started TaskManager to --cpus before the job's workers start
    others = bench.others()
    if others:
        console.log(f"[yellow]other jobs share the TaskManager: {', '.join(others)}[/]")
    arrivals = Arrivals()
    arrivals.follow(bench.settings, topics)
    env = job_environment(backlog, job_name, cell)
    result = FlinkRun(math.nan, math.nan, others)
    profiler: Profiler | None = None
    try:
        with CpuSampler(taskmanager_pid()) as sampler, bench.job(env, cell.parallelism) as job_id:
            console.log(f"{job_name} submitted; working through the backlog")
            began = time.time()
            with console.status("") as status:
                while (done := arrivals.labeled()) < 0.9 * pairs:
                    if profile_s and profiler is None and done >= 0.3 * pairs:
                        profiler = Profiler(
                            bench, job_id, profile_s, bench.settings.state_dir / "bench" / job_name
                        )
                    status.update(f"{cell} run {run + 1}: {done:,} of {pairs:,} pairs in closed windows")
                    if time.time() - began > 3600:
                        raise SystemExit(f"{job_name} did not get through the backlog in an hour")
                    bench.check_running(job_id)
                    time.sleep(1)
            if profiler is not None:
                result.profile = profiler.saved()
                result.loads = profiler.loads
            rate, t20, n20, t90, n90 = sustained_rate(arrivals, pairs)
            cpu = sampler.between(t20, t90) / max(n90 - n20, 1) * 1e6 if not math.isnan(rate) else math.nan
            # Jobs that started meanwhile shared the CPUs too.
            result = FlinkRun(
                rate, cpu, sorted({*others, *bench.others()}), profile=result.profile, loads=result.loads
            )
            console.log(f"{cell} run {run + 1}: {rate:,.0f} pairs/s sustained, {cpu:,.1f} CPU-s per M pairs")
            if math.isnan(rate):
                console.log("[yellow]the 20 % and 90 % windows arrived within a second: backlog too small[/]")
            if live_s > 0:
                _live_phase(bench, backlog, arrivals, result, live_s, live_rate)
    finally:
        arrivals.stop.set()
    return result


class Profiler:
    """Flink's profiler over the TaskManager, in a thread while the run goes on; the flame graph saved.

    Over the same seconds, each job vertex's busy, backpressured and idle time
    (Flink's task metrics, every 2 s): which chain is the bottleneck.
    """

    def __init__(self, bench: Bench, job_id: str, seconds: int, stem: Path) -> None:
        self.path = stem.with_suffix(".html")
        self.error: Exception | None = None
        self.loads: list[tuple[str, float, float, float]] = []
        console.log(f"profiling the TaskManager for {seconds} s (Flink's profiler, ITIMER)")
        self._thread = threading.Thread(target=self._run, args=(bench.rest, seconds), daemon=True)
        self._thread.start()
        self._loads = threading.Thread(target=self._sample, args=(bench.rest, job_id, seconds), daemon=True)
        self._loads.start()

    def _run(self, rest: FlinkRest, seconds: int) -> None:
        try:
            page = rest.profile(seconds)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(page)
        except Exception as error:  # reported, not fatal: the run's figures still count
            self.error = error

    def _sample(self, rest: FlinkRest, job_id: str, seconds: int) -> None:
        samples = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                samples.append(rest.vertex_metrics(job_id, LOAD_METRICS))
            except httpx.HTTPError as error:
                console.log(f"[yellow]vertex metrics: {error}[/]")
            time.sleep(2)
        self.loads = vertex_loads(samples)

    def saved(self) -> Path | None:
        self._thread.join()
        self._loads.join()
        if self.error is not None:
            console.log(f"[yellow]no profile: {self.error}[/]")
            return None
        console.log(f"flame graph: {self.path}")
        return self.path


def _live_phase(
    bench: Bench, backlog: Backlog, arrivals: Arrivals, result: FlinkRun, seconds: float, rate: float | None
) -> None:
    # Let the job catch up with the whole backlog before timing the live windows.
    deadline = time.time() + 120
    while arrivals.labeled() < backlog.pairs and time.time() < deadline:
        time.sleep(1)
    if rate is None:
        rate = result.rate / 2 if not math.isnan(result.rate) else 1000.0
        if math.isnan(result.rate):
            console.log("[yellow]live: no sustained rate to halve; 1,000 pairs/s[/]")
    result.live_rate = rate
    # Sent a window and the out-of-orderness longer than timed: the traffic itself, not a
    # marker sent early, closes the last timed window, at its own pace.
    tail = WINDOW_S + OUT_OF_ORDERNESS_S + 2
    with console.status(f"live: {rate:,.0f} pairs/s for {seconds:.0f} s (+ {tail} s)"):
        first = backlog.pairs + PARTITIONS
        began = live(bench.settings, backlog.topics, seconds + tail, rate, backlog.features, first)
        time.sleep(10)
    # Only windows wholly inside the timed traffic.
    since, until = began + WINDOW_S, began + seconds
    result.metric_delays = delays(arrivals.metrics, since, until)  # type: ignore[arg-type]
    result.alert_delays = delays(arrivals.alerts, since, until)  # type: ignore[arg-type]


# Python baseline ----------------------------------------------------------------------


def python_runs(bench: Bench, backlog: Backlog, runs: int) -> list[BaselineResult]:
    """The baseline ``runs`` times, pinned to the TaskManager's CPU set."""
    spec = WindowSpec(
        window_s=WINDOW_S,
        sliding_s=SLIDING_S,
        out_of_orderness_s=OUT_OF_ORDERNESS_S,
        label_delay_s=LABEL_DELAY_S,
        max_clock_skew_s=FeedbackJobSettings.model_fields["max_clock_skew_s"].default,
        drift_sample_rate=DRIFT_SAMPLE_RATE,
    )
    profiles = {(MODEL, VERSION): backlog.profile}
    cpus, previous = bench.cpu_set(), os.sched_getaffinity(0)
    # This thread's set: librdkafka's threads, made by the consumer, take it over.
    os.sched_setaffinity(0, cpus)
    results = []
    try:
        for run in range(runs):
            with console.status("") as status:
                result = run_baseline(
                    bench.settings, backlog.topics, backlog.pairs, profiles, spec, status.update
                )
            console.log(
                f"python consumer run {run + 1} on CPUs {cpu_list(cpus)}: {result.rate:,.0f} pairs/s, "
                f"{result.cpu_s_per_mpairs:,.1f} CPU-s per M pairs, {result.windows} windows, "
                f"{result.dead_letters} dead letters"
            )
            results.append(result)
    finally:
        os.sched_setaffinity(0, previous)
    return results


# Memory ---------------------------------------------------------------------------------


@dataclass
class MemoryRun:
    predictions: int
    state: str
    state_bytes: float
    # The windows' own state (their global aggregates; the local ones keep none across a checkpoint),
    # without pair_join's, which holds each prediction id for the label delay by design.
    window_state_bytes: float
    heap_bytes: float
    # The lowest heap sample once everything was read: near the live set, where the maximum is
    # mostly garbage not yet collected (and the other jobs' heap: the TaskManager is shared).
    heap_low: float
    heap_before: float
    others: list[str]


def memory_run(bench: Bench, backlog: Backlog, state: str, window_s: int) -> MemoryRun:
    """The job on a backlog that fills one open tumbling window: the largest checkpointed state and heap."""
    cell = Cell(1, state, "memory")
    job_name = f"{backlog.prefix}-mem-{state}"
    env = job_environment(
        backlog,
        job_name,
        cell,
        window_s=window_s,
        sliding_window_s=6 * window_s,
        label_delay_s=max(LABEL_DELAY_S, 2 * window_s),
    )
    heap_before = bench.rest.heap_used() or math.nan
    others = bench.others()
    states, window_states, heaps, settled = [0], [0], [0], []
    topics = backlog.topics
    watcher = Consumer(
        {"bootstrap.servers": bench.settings.kafka_bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"}
    )
    ends = {}
    for topic in (topics.predictions, topics.feedback):
        for p in range(PARTITIONS):
            ends[(topic, p)] = watcher.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
    watcher.close()
    with bench.job(env, 1) as job_id, console.status("") as status:
        console.log(f"{job_name} submitted: {backlog.pairs:,} predictions in one {window_s} s window")
        began, read_at = time.time(), None
        while True:
            if (size := bench.rest.latest_state_size(job_id)) is not None:
                states.append(size)
            if (by_vertex := bench.rest.latest_state_by_vertex(job_id)) is not None:
                window_states.append(sum(n for name, n in by_vertex.items() if WINDOWS.search(name)))
            if (heap := bench.rest.heap_used()) is not None:
                heaps.append(heap)
                if read_at is not None:
                    settled.append(heap)
            done = read_at is not None and bench.rest.completed_checkpoints(job_id) >= read_at + 2
            if done:
                break
            if read_at is None and _committed(bench.settings, job_name, ends):
                # The Kafka source commits on checkpoints: everything read is in one now; one more to be sure.
                read_at = bench.rest.completed_checkpoints(job_id)
            status.update(
                f"memory, {backlog.pairs:,} predictions in a window, {state}: "
                f"state {max(states) / 2**20:,.1f} MiB, heap {max(heaps) / 2**20:,.0f} MiB"
                + (", all read" if read_at is not None else "")
            )
            if time.time() - began > 1800:
                raise SystemExit(f"{job_name}: not through {backlog.pairs:,} pairs in 30 minutes")
            bench.check_running(job_id)
            time.sleep(1)
    others = sorted({*others, *bench.others()})
    run = MemoryRun(
        backlog.pairs,
        state,
        max(states),
        max(window_states),
        max(heaps),
        min(settled, default=math.nan),
        heap_before,
        others,
    )
    console.log(
        f"memory, {run.predictions:,} predictions, {state}: state {run.state_bytes / 2**20:,.1f} MiB "
        f"(windows {run.window_state_bytes / 2**10:,.1f} KiB), "
        f"heap {run.heap_bytes / 2**20:,.0f} MiB (before: {run.heap_before / 2**20:,.0f} MiB)"
    )
    return run


def _committed(settings: Settings, job_name: str, ends: dict[tuple[str, int], int]) -> bool:
    """Whether the job's consumer groups have committed the end of every partition."""
    for suffix in ("predictions", "feedback"):
        consumer = Consumer(
            {"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"{job_name}-{suffix}"}
        )
        try:
            wanted = [TopicPartition(t, p) for (t, p) in ends if t.endswith(f".{suffix}")]
            for tp in consumer.committed(wanted, timeout=10):
                if tp.offset < ends[(tp.topic, tp.partition)]:
                    return False
        finally:
            consumer.close()
    return True


# Drift against Evidently ------------------------------------------------------------------


def drift_side_by_side(rows: int = 10_000, features: int = 64) -> tuple[float, float]:
    """Seconds for one window's drift: the job's code, and Evidently's DataDriftPreset."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    rng = np.random.default_rng(11)
    names = [f"x{k}" for k in range(features)]
    ref = pd.DataFrame(rng.normal(0, 1, (rows, features)), columns=names)
    cur = pd.DataFrame(rng.normal(0.3, 1.1, (rows, features)), columns=names)
    profile = build_profile("drift", "1", {n: ref[n].to_numpy() for n in names})
    # The job parses each event once, for every use, and bins its inputs as it
    # arrives (drift_bins, the JVM twin of window_counts); PSI and JS come from
    # the counts at the window's end. So both sides start from parsed rows.
    rows = [dict(zip(names, row, strict=True)) for row in cur.itertuples(index=False)]

    def ours() -> dict:
        return column_drift(profile, window_counts(profile, rows))

    def evidently() -> object:
        return Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)

    ours(), evidently()  # warm: imports, caches
    return _best(ours), _best(evidently)


def _best(fn: object, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - began)
    return min(times)


# Report ----------------------------------------------------------------------------------


def median_finite(values: list[float]) -> float:
    """The median of the values that are not NaN; NaN if none is."""
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def _span(values: list[float]) -> str:
    values = [v for v in values if not math.isnan(v)]
    return f"{min(values):,.0f}-{max(values):,.0f}" if values else "nan"


def _percentiles(d: np.ndarray | None) -> tuple[float, float]:
    if d is None or not len(d):
        return math.nan, math.nan
    p50, p95 = np.percentile(d, [50, 95])
    return float(p50), float(p95)


def cleanup(settings: Settings, prefixes: list[str]) -> None:
    """Delete the bench's topics and lake objects: each run writes a whole backlog's examples."""
    admin = admin_client(settings.kafka_bootstrap)
    names = [t for prefix in prefixes for t in Topics(prefix).all()]
    for future in admin.delete_topics(names, operation_timeout=30).values():
        with contextlib.suppress(Exception):
            future.result(timeout=30)
    client = s3_client(settings)
    for prefix in prefixes:
        objects = client.list_objects(settings.lake_bucket, prefix=f"{prefix}/", recursive=True)
        errors = client.remove_objects(settings.lake_bucket, (DeleteObject(o.object_name) for o in objects))
        for error in errors:  # lazy: consuming it deletes
            console.log(f"could not delete {error}")
        Path(f"/tmp/{prefix}-rules.yaml").unlink(missing_ok=True)
    console.log(f"deleted the bench's topics and lake objects ({', '.join(prefixes)})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--million-pairs", type=float, default=2.0, help="backlog size (default 2)")
    parser.add_argument("--features", type=int, nargs="+", default=[8], help="feature counts (default 8)")
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2], help="default 1 2")
    parser.add_argument("--state", nargs="+", choices=["rocksdb", "hashmap"], default=["rocksdb", "hashmap"])
    parser.add_argument("--stack", nargs="+", choices=["idle", "busy"], default=["idle", "busy"])
    parser.add_argument("--runs", type=int, default=3, help="runs per cell and of the baseline (default 3)")
    parser.add_argument(
        "--cpus", type=lambda s: {int(c) for c in s.split(",")}, help="pin the TaskManager and baseline: 0,1"
    )
    parser.add_argument("--live-seconds", type=float, default=60.0, help="0: no live phase")
    parser.add_argument(
        "--live-rate", type=float, help="pairs/s in the live phase (default: half the measured)"
    )
    parser.add_argument(
        "--busy-rate", type=float, default=0.0, help="pairs/s into the busy stack's own topics"
    )
    parser.add_argument("--memory", action="store_true", help="also the memory runs (slow)")
    parser.add_argument(
        "--memory-windows", type=int, nargs="+", default=[10_000, 1_000_000], help="predictions in a window"
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the bench's topics and lake objects")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="SECONDS",
        help="profile the first run for SECONDS: where the job's CPU goes, by stage",
    )
    parser.add_argument(
        "--drift-only", action="store_true", help="only the drift comparison: no stack needed"
    )
    args = parser.parse_args()
    if args.drift_only:
        ours_s, evidently_s = drift_side_by_side()
        console.print(
            f"drift 10k x 64: closeloop {ours_s * 1000:.0f} ms, Evidently {evidently_s * 1000:.0f} ms"
        )
        print(f"drift_vs_evidently={evidently_s / ours_s:.1f}")
        return
    pairs = int(args.million_pairs * 1_000_000)
    # Killed (SIGTERM): still cancel the job on the shared cluster.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    settings = get_stack_settings()
    stack = LocalStack(settings)
    stack.up(list(IDLE_SERVICES), report=lambda s, m: console.log(f"{s}: {m}"))
    bench = Bench(settings, stack, args.cpus)
    console.log(
        f"TaskManager pid {taskmanager_pid()}, CPUs {cpu_list(bench.cpu_set())}"
        + (" (--cpus: set on it and on the baseline)" if args.cpus else " (its own; the baseline takes them)")
    )
    console.log(f"python consumer: parses with {PARSER}")
    console.log(
        "python consumer: no lake, no checkpoints, nothing published (it counts what the job would write), "
        "no cyclic garbage collector"
    )
    stacks = [s for s in ("idle", "busy") if s in args.stack]
    cells = [Cell(p, s, k) for k in stacks for s in args.state for p in args.parallelism]
    live_cell = Cell(2, "rocksdb", "idle") if Cell(2, "rocksdb", "idle") in cells else cells[0]

    backlogs: dict[int, Backlog] = {}
    created: list[Backlog] = []  # every backlog, memory ones too: deleted at the end
    python: dict[tuple[int, str], list[BaselineResult]] = {}
    flink: dict[tuple[int, Cell], list[FlinkRun]] = {}
    notes: dict[str, list[str]] = {}
    memory: list[MemoryRun] = []
    live_run: FlinkRun | None = None
    busy_load: threading.Event | None = None
    try:
        for kind in stacks:
            if kind == "busy":
                console.log(
                    "busy cells: bringing up the whole stack (it stays up; `closeloop down` stops it)"
                )
                stack.up(list(stack.services), report=lambda s, m: console.log(f"{s}: {m}"))
                if args.busy_rate > 0:
                    busy_load = _steady_load(settings, args.busy_rate, args.features[0])
            elif extra := bench.not_idle():
                notes["idle"] = extra
                console.log(f"[yellow]the stack is not idle: {', '.join(extra)} run too[/]")
            for features in args.features:
                if features not in backlogs:
                    # Ending a minute ago: its windows close long before the live phase's.
                    start = time.time() - 60 - pairs / BACKLOG_RATE
                    backlogs[features] = Backlog.create(settings, pairs, features, start=start)
                    created.append(backlogs[features])
                backlog = backlogs[features]
                python[(features, kind)] = python_runs(bench, backlog, args.runs)
                for cell in (c for c in cells if c.stack == kind):
                    for run in range(args.runs):
                        is_live = (
                            args.live_seconds > 0
                            and live_run is None
                            and cell == live_cell
                            and features == args.features[0]
                        )
                        result = flink_run(
                            bench,
                            backlog,
                            cell,
                            run,
                            args.live_seconds if is_live else 0,
                            args.live_rate,
                            profile_s=args.profile if not flink else 0,
                        )
                        flink.setdefault((features, cell), []).append(result)
                        if is_live:
                            live_run = result
        for n in args.memory_windows if args.memory else []:
            window_s = max(1, round(n / BACKLOG_RATE))
            # Aligned to the window, ending two minutes ago: the one window is full and stays open.
            start = (time.time() - 120 - window_s) // window_s * window_s
            backlog = Backlog.create(
                settings, window_s * BACKLOG_RATE, args.features[0], start=start, marker=False
            )
            created.append(backlog)
            for state in args.state:
                memory.append(memory_run(bench, backlog, state, window_s))
    finally:
        if busy_load is not None:
            busy_load.set()
        bench.unpin()
        if not args.keep_data and created:
            cleanup(settings, [b.prefix for b in created])
    ours_s, evidently_s = drift_side_by_side()

    report(args, pairs, bench, cells, python, flink, notes, live_run, live_cell, memory, ours_s, evidently_s)


def _steady_load(settings: Settings, rate: float, features: int) -> threading.Event:
    """Pairs at ``rate`` per second into the stack's own topics, for its own feedback job, until set."""
    stop = threading.Event()

    def run() -> None:
        rng, topics = random.Random(13), settings.topics
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 20})
        began, n = time.time(), 0
        while not stop.wait(0.05):
            for _ in range(int((time.time() - began) * rate) - n):
                key, prediction, feedback = pair(n, time.time(), features, rng)
                _produce(producer, topics.predictions, prediction, b"busy-" + key)
                _produce(producer, topics.feedback, feedback, b"busy-" + key)
                n += 1
            producer.poll(0)
        producer.flush(10)

    threading.Thread(target=run, daemon=True).start()
    console.log(f"busy stack: {rate:,.0f} pairs/s into {settings.topics.predictions}")
    return stop


def report(
    args: argparse.Namespace,
    pairs: int,
    bench: Bench,
    cells: list[Cell],
    python: dict[tuple[int, str], list[BaselineResult]],
    flink: dict[tuple[int, Cell], list[FlinkRun]],
    notes: dict[str, list[str]],
    live_run: FlinkRun | None,
    live_cell: Cell,
    memory: list[MemoryRun],
    ours_s: float,
    evidently_s: float,
) -> None:
    cpus = " / ".join(sorted(bench.seen))
    for features in args.features:
        table = Table(
            title=f"feedback job vs python, {pairs:,} pairs, {features} features, "
            f"{args.runs} run(s) per cell, CPUs {cpus}"
        )
        for column in (
            "cell",
            "pairs/s (median)",
            "min-max",
            "CPU-s per M pairs",
            "vs python",
            "shared with",
        ):
            table.add_column(column, justify="left" if column in ("cell", "shared with") else "right")
        for kind in dict.fromkeys(c.stack for c in cells):
            base = python.get((features, kind), [])
            base_rate = median_finite([r.rate for r in base])
            table.add_row(
                f"python consumer ({PARSER}) / {kind}",
                f"{base_rate:,.0f}",
                _span([r.rate for r in base]),
                f"{median_finite([r.cpu_s_per_mpairs for r in base]):,.1f}",
                "1.00",
                ", ".join(notes.get(kind, [])),
            )
            for cell in (c for c in cells if c.stack == kind):
                runs = flink.get((features, cell), [])
                rate = median_finite([r.rate for r in runs])
                others = sorted({o for r in runs for o in r.others})
                table.add_row(
                    f"flink {cell}",
                    f"{rate:,.0f}",
                    _span([r.rate for r in runs]),
                    f"{median_finite([r.cpu_s_per_mpairs for r in runs]):,.1f}",
                    f"{rate / base_rate:.2f}",
                    ", ".join(others),
                )
        console.print(table)
        scaling = Table(title=f"scaling, parallelism 2 / 1, {features} features")
        for column in ("state", "stack", "p2 / p1"):
            scaling.add_column(column)
        for kind in dict.fromkeys(c.stack for c in cells):
            for state in args.state:
                scaling.add_row(state, kind, f"{_scaling(flink, features, state, kind):.2f}")
        console.print(scaling)

    other = Table(title="live, drift")
    other.add_column("what")
    other.add_column("figure", justify="right")
    alert_p95 = math.nan
    if live_run is not None:
        other.add_row(f"live: {live_cell}, {args.features[0]} features", f"{live_run.live_rate:,.0f} pairs/s")
        for name, d in (("metrics", live_run.metric_delays), ("alert", live_run.alert_delays)):
            p50, p95 = _percentiles(d)
            n = 0 if d is None else len(d)
            other.add_row(
                f"window end → {name} on Kafka, p50 / p95 ({n} windows)", f"{p50:.2f} / {p95:.2f} s"
            )
        if live_cell == Cell(2, "rocksdb", "idle"):
            alert_p95 = _percentiles(live_run.alert_delays)[1]
    other.add_row("drift 10k x 64: closeloop (bin counts, then PSI and JS)", f"{ours_s * 1000:.0f} ms")
    other.add_row("drift 10k x 64: Evidently DataDriftPreset", f"{evidently_s * 1000:.0f} ms")
    console.print(other)

    if memory:
        mem = Table(title="memory: one open tumbling window of N predictions, parallelism 1")
        columns = (
            "N",
            "state",
            "checkpointed state, max",
            "windows' state, max",
            "heap used, max",
            "heap, low after read",
        )
        for column in (*columns, "heap before", "shared with"):
            mem.add_column(column, justify="left" if column == "shared with" else "right")
        for m in memory:
            mem.add_row(
                f"{m.predictions:,}",
                m.state,
                f"{m.state_bytes / 2**20:,.1f} MiB",
                f"{m.window_state_bytes / 2**10:,.1f} KiB",
                f"{m.heap_bytes / 2**20:,.0f} MiB",
                f"{m.heap_low / 2**20:,.0f} MiB",
                f"{m.heap_before / 2**20:,.0f} MiB",
                ", ".join(m.others),
            )
        small, large = min(m.predictions for m in memory), max(m.predictions for m in memory)
        for state in args.state:
            by_n = {m.predictions: m for m in memory if m.state == state}
            if small != large and small in by_n and large in by_n:
                mem.add_row(
                    f"{large:,} / {small:,}",
                    state,
                    f"x {by_n[large].state_bytes / max(by_n[small].state_bytes, 1):.1f}",
                    f"x {by_n[large].window_state_bytes / max(by_n[small].window_state_bytes, 1):.1f}",
                    f"x {by_n[large].heap_bytes / max(by_n[small].heap_bytes, 1):.1f}",
                    f"x {by_n[large].heap_low / max(by_n[small].heap_low, 1):.1f}",
                    "",
                    "",
                )
        console.print(mem)

    for (features, cell), runs in flink.items():
        for run in (r for r in runs if r.profile is not None):
            total, shares = stages(run.profile.read_text())
            where = Table(title=f"where the CPU goes: {cell}, {features} features ({total:,} samples)")
            where.add_column("stage")
            where.add_column("share", justify="right")
            for stage, share in shares:
                where.add_row(stage, f"{share:.1%}")
            console.print(where)
            console.print(f"flame graph: {run.profile}")
            chains = Table(title=f"where the time goes per chain: {cell}, {features} features")
            chains.add_column("job vertex (its operators)")
            for name in ("busy", "backpressured", "idle"):
                chains.add_column(name, justify="right")
            for vertex, busy, pressured, idle in run.loads:
                chains.add_row(chain_name(vertex), f"{busy:.0%}", f"{pressured:.0%}", f"{idle:.0%}")
            console.print(chains)

    key = (args.features[0], Cell(2, "rocksdb", "idle"))
    runs = flink.get(key, [])
    rate = median_finite([r.rate for r in runs])
    base = median_finite([r.rate for r in python.get((args.features[0], "idle"), [])])
    print(
        f"pairs_per_s={rate:.0f} vs_python={rate / base:.2f} "
        f"scaling_p2={_scaling(flink, args.features[0], 'rocksdb', 'idle'):.2f} alert_p95_s={alert_p95:.2f} "
        f"drift_vs_evidently={evidently_s / ours_s:.1f} "
        f"cpu_s_per_mpairs={median_finite([r.cpu_s_per_mpairs for r in runs]):.1f}"
    )


def _scaling(flink: dict[tuple[int, Cell], list[FlinkRun]], features: int, state: str, stack: str) -> float:
    p1 = median_finite([r.rate for r in flink.get((features, Cell(1, state, stack)), [])])
    p2 = median_finite([r.rate for r in flink.get((features, Cell(2, state, stack)), [])])
    return p2 / p1


if __name__ == "__main__":
    main()
