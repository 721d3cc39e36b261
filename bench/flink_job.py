"""The feedback job against a plain Python consumer, and its drift against Evidently, side by side.

    .local/venv/bin/python bench/flink_job.py [--million-pairs 1] [--features 8]

1. Backlog: N million prediction + feedback pairs of a classifier are preloaded
   into fresh topics, spread over the recent past. The feedback job (on the
   local Flink session cluster, submitted with `flink run -py` like `closeloop
   up` does) works through them; its sustained rate is the labeled pairs its
   tumbling windows count per second of wall time, between 20 % and 90 % of
   the backlog (the job's start-up is not in it).
2. Baseline 1: a single-process Python consumer (confluent-kafka + numpy)
   computes the same window metrics (counts, accuracy, macro F1, latency
   quantiles, drift) from the same topics.
3. Live: pairs sent at a steady rate with the current time; for every window,
   the delay from the window's end to its metrics event and to its alert (a
   rule that fires every window) arriving on Kafka, p50 and p95.
4. Baseline 2: drift of one 10k-row x 64-feature window, the job's code (from
   the JSON lines the job hands its UDF) against Evidently's DataDriftPreset
   on the same rows as DataFrames.

The last line is `pairs_per_s=… vs_python=… alert_p95_s=… drift_vs_evidently=…`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import uuid
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from confluent_kafka import Consumer, Producer, TopicPartition
from rich.console import Console
from rich.table import Table

from closeloop.config import Settings, Topics, get_settings
from closeloop.events import AlertEvent, MetricsEvent, decode
from closeloop.kafka.admin import ensure_topics
from closeloop.monitoring.drift import column_drift, window_counts
from closeloop.monitoring.profiles import ReferenceProfile, build_profile, save_profile
from closeloop.s3 import s3_client
from closeloop.stack.manager import LocalStack
from closeloop.stack.process import ProcessRecord
from closeloop.stack.services.feedback_job import FeedbackJobService

console = Console()
MODEL, VERSION, CLASSES = "bench", "1", 10
WINDOW_S, SLIDING_S, OUT_OF_ORDERNESS_S = 10, 60, 1
BACKLOG_RATE = 1000  # pairs per second of event time in the backlog
# Drift from a 10 % hash-sample of the inputs, in the job and in the baseline:
# at 1000 predictions/s a 60 s window's inputs would not fit the local heap.
DRIFT_SAMPLE_RATE = 0.1
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


def preload(settings: Settings, topics: Topics, pairs: int, features: int) -> float:
    """Send the backlog, ending a minute ago; returns the seconds it took."""
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
    start, began = time.time() - 60 - pairs / BACKLOG_RATE, time.perf_counter()
    with console.status("") as status:
        for i in range(pairs):
            key, prediction, feedback = pair(i, start + i / BACKLOG_RATE, features, rng)
            while True:
                try:
                    producer.produce(topics.predictions, prediction, key)
                    producer.produce(topics.feedback, feedback, key)
                    break
                except BufferError:
                    producer.poll(0.05)
            if i % 50_000 == 0:
                producer.poll(0)
                status.update(f"preloading: {i:,} of {pairs:,} pairs")
        # One pair a window later moves the watermark past the backlog's last
        # window, which would otherwise stay open until the live phase.
        later = start + pairs / BACKLOG_RATE + WINDOW_S + OUT_OF_ORDERNESS_S + 1
        key, prediction, feedback = pair(pairs, later, features, rng)
        producer.produce(topics.predictions, prediction, key)
        producer.produce(topics.feedback, feedback, key)
        assert producer.flush(120) == 0, "the backlog did not reach Kafka"
    return time.perf_counter() - began


# The feedback job ------------------------------------------------------------------------


@dataclass
class Arrivals:
    """What a consumer thread saw arrive on the metrics and alerts topics, with wall times."""

    metrics: list[tuple[float, MetricsEvent]] = field(default_factory=list)
    alerts: list[tuple[float, AlertEvent]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def follow(self, settings: Settings, topics: Topics) -> threading.Thread:
        def run() -> None:
            consumer = Consumer(
                {
                    "bootstrap.servers": settings.kafka_bootstrap,
                    "group.id": f"bench-{uuid.uuid4().hex}",
                    "fetch.wait.max.ms": 10,
                }
            )
            consumer.assign([TopicPartition(topics.metrics, 0, 0), TopicPartition(topics.alerts, 0, 0)])
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


def submit(stack: LocalStack, prefix: str, rules: Path) -> tuple[FeedbackJobService, ProcessRecord]:
    job = {
        "topic_prefix": prefix,
        "job_name": f"{prefix}-job",
        "profiles_prefix": f"{prefix}/profiles",
        "lake_prefix": f"{prefix}/feedback",
        "window_s": WINDOW_S,
        "sliding_window_s": SLIDING_S,
        "out_of_orderness_s": OUT_OF_ORDERNESS_S,
        "label_delay_s": 3600,
        "idle_timeout_s": 0,
        "alert_rules": rules,
        "drift_sample_rate": DRIFT_SAMPLE_RATE,
    }
    for name, value in job.items():
        os.environ[f"CLOSELOOP_{name.upper()}"] = str(value)
    service = FeedbackJobService(stack.settings, stack.layout)
    return service, service.start()


def sustained_rate(arrivals: Arrivals, pairs: int) -> tuple[float, float]:
    """Labeled pairs per second between 20 % and 90 % of the backlog, and when 90 % was reached."""
    total, marks = 0, {}
    for at, event in arrivals.metrics:
        if event.window.kind == "tumbling":
            total += event.labeled
            for share in (0.2, 0.9):
                if share not in marks and total >= share * pairs:
                    marks[share] = (at, total)
    (t20, n20), (t90, n90) = marks[0.2], marks[0.9]
    return (n90 - n20) / max(t90 - t20, 1e-9), t90


def live(settings: Settings, topics: Topics, seconds: float, rate: int, features: int, first: int) -> float:
    """Pairs at ``rate`` per second stamped with the current time; returns when it started."""
    rng = random.Random(9)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
    began, sent = time.time(), first
    while (now := time.time()) < began + seconds:
        due = first + int((now - began) * rate)
        for n in range(sent, due):
            key, prediction, feedback = pair(n, time.time(), features, rng)
            producer.produce(topics.predictions, prediction, key)
            producer.produce(topics.feedback, feedback, key)
        sent = max(sent, due)
        producer.poll(0)
        time.sleep(0.01)
    producer.flush(30)
    return began


def delays(arrivals: list[tuple[float, MetricsEvent | AlertEvent]], since: float) -> np.ndarray:
    """Seconds from each (tumbling) window's end to its first arrival, for windows ending after ``since``."""
    first: dict[tuple, float] = {}
    for at, event in arrivals:
        window = event.window
        if window.kind == "tumbling" and window.end.timestamp() > since:
            first.setdefault((type(event), window.start), at - window.end.timestamp())
    return np.asarray(sorted(first.values()))


# Baseline 1: a plain Python consumer ----------------------------------------------------------


def python_consumer(settings: Settings, topics: Topics, pairs: int, profile: ReferenceProfile) -> float:
    """The same tumbling-window metrics in one Python process; returns pairs per second."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"bench-py-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 52_428_800,
        }
    )
    consumer.assign([TopicPartition(topics.predictions, 0, 0), TopicPartition(topics.feedback, 0, 0)])
    predictions: dict[str, dict] = {}
    windows: dict[float, dict] = defaultdict(
        lambda: {"predictions": 0, "errors": 0, "latency": [], "inputs": [], "outputs": [], "y": [], "p": []}
    )
    pending: dict[str, dict] = {}  # feedback read before its prediction
    seen_feedback, labeled = set(), 0

    def label(feedback: dict, prediction: dict) -> None:
        nonlocal labeled
        ts = datetime.fromisoformat(feedback["ts"]).timestamp()
        window = windows[ts - ts % WINDOW_S]
        window["y"].append(feedback["ground_truth"])
        window["p"].append(prediction["output"])
        labeled += 1

    began = time.perf_counter()
    with console.status("") as status:
        while labeled < pairs:
            batch = consumer.consume(10_000, timeout=1.0)
            if not batch and time.perf_counter() - began > 600:
                raise SystemExit(f"python consumer: stuck at {labeled:,} of {pairs:,} pairs")
            for message in batch:
                if message.error() is not None:
                    continue
                event = json.loads(message.value())
                pid = event["prediction_id"]
                if message.topic() == topics.predictions:
                    if pid in predictions:
                        continue
                    predictions[pid] = event
                    ts = datetime.fromisoformat(event["ts"]).timestamp()
                    window = windows[ts - ts % WINDOW_S]
                    window["predictions"] += 1
                    window["errors"] += event.get("error") is not None
                    window["latency"].append(event["latency_ms"])
                    if zlib.crc32(pid.encode()) % 1000 < DRIFT_SAMPLE_RATE * 1000:
                        window["inputs"].append(event["inputs"])
                        window["outputs"].append(event["output"])
                    if (feedback := pending.pop(pid, None)) is not None:
                        label(feedback, event)
                    continue
                if pid in seen_feedback:
                    continue
                seen_feedback.add(pid)
                if (prediction := predictions.get(pid)) is None:
                    pending[pid] = event
                else:
                    label(event, prediction)
            status.update(f"python consumer: {labeled:,} of {pairs:,} pairs")
        for window in windows.values():
            y, p = np.asarray(window["y"]), np.asarray(window["p"])
            if len(y):
                accuracy = float(np.mean(y == p))
                f1 = []
                for c in np.union1d(y, p):
                    tp, fp, fn = (
                        np.sum((p == c) & (y == c)),
                        np.sum((p == c) & (y != c)),
                        np.sum((p != c) & (y == c)),
                    )
                    f1.append(2 * tp / max(2 * tp + fp + fn, 1))
                window["quality"] = {"accuracy": accuracy, "macro_f1": float(np.mean(f1))}
            if window["latency"]:
                window["quantiles"] = np.percentile(window["latency"], [50, 95, 99])
                counts = window_counts(profile, window["inputs"], window["outputs"])
                window["drift"] = column_drift(profile, counts)
    consumer.close()
    return pairs / (time.perf_counter() - began)


# Baseline 2: Evidently ------------------------------------------------------------------------


def drift_side_by_side(rows: int = 10_000, features: int = 64) -> tuple[float, float]:
    """Seconds for one window's drift: the job's code, and Evidently's DataDriftPreset."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    rng = np.random.default_rng(11)
    names = [f"x{k}" for k in range(features)]
    ref = pd.DataFrame(rng.normal(0, 1, (rows, features)), columns=names)
    cur = pd.DataFrame(rng.normal(0.3, 1.1, (rows, features)), columns=names)
    profile = build_profile("drift", "1", {n: ref[n].to_numpy() for n in names})
    # What the job's UDF receives: the window's inputs as JSON lines.
    lines = "\n".join(json.dumps(dict(zip(names, row, strict=True))) for row in cur.itertuples(index=False))

    def ours() -> dict:
        return column_drift(profile, window_counts(profile, [json.loads(line) for line in lines.split("\n")]))

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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--million-pairs", type=float, default=1.0, help="backlog size (default 1)")
    parser.add_argument("--features", type=int, default=8, help="input features per prediction (default 8)")
    parser.add_argument("--live-seconds", type=float, default=60.0)
    parser.add_argument("--live-rate", type=int, default=2000, help="pairs per second in the live phase")
    parser.add_argument("--drift-only", action="store_true", help="only baseline 2: no stack needed")
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

    settings = get_settings()
    stack = LocalStack(settings)
    stack.up(["kafka", "minio", "flink"], report=lambda s, m: console.log(f"{s}: {m}"))
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    topics = Topics(prefix)
    ensure_topics(settings.kafka_bootstrap, topics.all(), partitions=1)
    profile = reference(args.features)
    save_profile(s3_client(settings), settings.lake_bucket, f"{prefix}/profiles", profile)
    rules = Path(f"/tmp/{prefix}-rules.yaml")
    rules.write_text(EVERY_WINDOW)

    sent_s = preload(settings, topics, pairs, args.features)
    console.log(f"preloaded {pairs:,} pairs in {sent_s:.1f} s")

    python_rate = python_consumer(settings, topics, pairs, profile)
    console.log(f"python consumer: {python_rate:,.0f} pairs/s")

    arrivals = Arrivals()
    arrivals.follow(settings, topics)
    began = time.time()
    service, record = submit(stack, prefix, rules)
    console.log("feedback job submitted; working through the backlog")
    try:
        with console.status("") as status:
            while arrivals.labeled() < 0.9 * pairs:
                status.update(f"feedback job: {arrivals.labeled():,} of {pairs:,} pairs in closed windows")
                if time.time() - began > 1800:
                    raise SystemExit("the feedback job did not get through the backlog in 30 minutes")
                time.sleep(1)
        flink_rate, _ = sustained_rate(arrivals, pairs)
        console.log(f"feedback job: {flink_rate:,.0f} pairs/s sustained")
        # Let the job catch up to the present before timing the live windows.
        time.sleep(5)
        live_began = live(settings, topics, args.live_seconds, args.live_rate, args.features, pairs + 1)
        time.sleep(WINDOW_S + 10)
        arrivals.stop.set()
    finally:
        service.terminate(record, report=console.log)
    metric_delays = delays(arrivals.metrics, live_began + WINDOW_S)
    alert_delays = delays(arrivals.alerts, live_began + WINDOW_S)
    ours_s, evidently_s = drift_side_by_side()

    table = Table(title=f"feedback job, {pairs:,} pairs, {args.features} features, 2 cores")
    table.add_column("what")
    table.add_column("figure", justify="right")
    table.add_row("feedback job, sustained", f"{flink_rate:,.0f} pairs/s")
    table.add_row("python consumer (confluent-kafka + numpy)", f"{python_rate:,.0f} pairs/s")
    for name, d in (("metrics", metric_delays), ("alert", alert_delays)):
        if len(d):
            p50, p95 = np.percentile(d, [50, 95])
            table.add_row(
                f"window end → {name} on Kafka, p50 / p95 ({len(d)} windows)", f"{p50:.2f} / {p95:.2f} s"
            )
    table.add_row("drift 10k x 64: closeloop (from JSON lines)", f"{ours_s * 1000:.0f} ms")
    table.add_row("drift 10k x 64: Evidently DataDriftPreset", f"{evidently_s * 1000:.0f} ms")
    console.print(table)
    alert_p95 = float(np.percentile(alert_delays, 95)) if len(alert_delays) else float("nan")
    print(
        f"pairs_per_s={flink_rate:.0f} vs_python={flink_rate / python_rate:.2f} "
        f"alert_p95_s={alert_p95:.2f} drift_vs_evidently={evidently_s / ours_s:.1f}"
    )


if __name__ == "__main__":
    main()
