"""The feedback job's work in one plain Python process: the baseline of bench/flink_job.py, not a bench.

It reads the predictions and feedback topics (every partition) from the start
and does what the job does, minus the lake, the checkpoints and publishing:

- the contract checks in spirit (required members present, of the right JSON
  type; ``latency_ms`` a number >= 0; ``output`` unless ``error``; ``ts`` an
  ISO-8601 UTC time, at most the clock skew after Kafka's timestamp; not
  behind its stream's watermark); a broken event only counts as a dead letter;
- deduplication of predictions by ``prediction_id``, feedback by ``feedback_id``;
- the label: the first feedback of a prediction, by event time then partition
  offset, within the label delay, decided once the watermark has passed it;
- tumbling windows and sliding windows (size ``sliding_s``, sliding by the
  tumbling size, so each event counts in several) per model version: counts,
  accuracy and macro F1, latency p50/p95/p99, drift of a crc32 hash sample of
  the inputs against the reference profile (``window_counts``, ``column_drift``).

Windows are kept as tumbling slices that the sliding windows merge, as Flink
does; the watermark is the minimum over every partition of both topics.

CPython's cyclic garbage collector is off while it reads (see ``run_baseline``):
its state holds no cycles, and the collector only walked it, again and again.
"""

from __future__ import annotations

import gc
import heapq
import json
import math
import resource
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from confluent_kafka import Consumer, TopicPartition

from closeloop.config import Settings, Topics
from closeloop.events import FeedbackEvent, PredictionEvent
from closeloop.monitoring.drift import column_drift, window_counts
from closeloop.monitoring.profiles import ReferenceProfile
from closeloop.tasks import task_names

try:
    import orjson

    loads: Callable[[bytes], Any] = orjson.loads
    PARSER = "orjson"
except ImportError:  # not in the venv: the standard library's

    def loads(data: bytes) -> Any:
        # From str: json.loads(bytes) first sniffs the encoding, a sixth of its time here.
        return json.loads(data.decode())

    PARSER = "json"

__all__ = ["PARSER", "BaselineResult", "WindowSpec", "run_baseline"]

_PREDICTION = PredictionEvent.SCHEMA
_FEEDBACK = FeedbackEvent.SCHEMA
_TASKS = frozenset(task_names())
ModelKey = tuple[str, str, str]  # model name, version, task


@dataclass(frozen=True)
class WindowSpec:
    """The job's settings that the baseline needs, in seconds (as CLOSELOOP_* has them)."""

    window_s: int
    sliding_s: int
    out_of_orderness_s: int
    label_delay_s: int
    max_clock_skew_s: int
    drift_sample_rate: float


@dataclass
class BaselineResult:
    pairs: int  # the backlog's: windows closed in the last batch may add a few live pairs to labeled
    labeled: int
    wall_s: float
    cpu_s: float
    windows: dict[str, int]
    dead_letters: int

    @property
    def rate(self) -> float:
        return self.pairs / self.wall_s

    @property
    def cpu_s_per_mpairs(self) -> float:
        return self.cpu_s / self.pairs * 1e6


@dataclass
class _Slice:
    """One tumbling window's sums for one model version; the sliding windows merge them."""

    predictions: int = 0
    errors: int = 0
    feedback: int = 0
    labeled: int = 0
    latency: list[float] = field(default_factory=list)
    confusion: Counter[tuple[Hashable, Hashable]] = field(default_factory=Counter)
    inputs: list[dict] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    # Set when the slice closes: the inputs binned once, for every window it is in.
    counts: dict[str, np.ndarray] | None = None
    latencies: np.ndarray | None = None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _valid_prediction(e: Any) -> bool:
    return (
        isinstance(e, dict)
        and e.get("schema") == _PREDICTION
        and isinstance(e.get("prediction_id"), str)
        and isinstance(e.get("model_name"), str)
        and isinstance(e.get("model_version"), str)
        and isinstance(task := e.get("task"), str)
        and task in _TASKS
        and isinstance(e.get("inputs"), dict)
        and (
            (features := e.get("features")) is None
            or (isinstance(features, dict) and all(map(_number, features.values())))
        )
        and _number(latency := e.get("latency_ms"))
        and latency >= 0
        and (e.get("output") is not None or e.get("error") is not None)
    )


def _valid_feedback(e: Any) -> bool:
    return (
        isinstance(e, dict)
        and e.get("schema") == _FEEDBACK
        and isinstance(e.get("prediction_id"), str)
        and e.get("ground_truth") is not None
    )


def _event_ms(e: dict, kafka_ms: int) -> int | None:
    """The event time in ms: its ``ts`` (ISO-8601, UTC), Kafka's timestamp without one; None if broken."""
    ts = e.get("ts")
    if ts is None:
        return kafka_ms
    if not isinstance(ts, str) or not ts.endswith("Z"):
        return None
    try:
        return round(datetime.fromisoformat(ts).timestamp() * 1000)
    except ValueError:
        return None


def _hashable(value: Any) -> Hashable:
    return value if isinstance(value, str | int | float | bool) else json.dumps(value, sort_keys=True)


def _quality(confusion: Counter[tuple[Hashable, Hashable]]) -> dict[str, float]:
    """Accuracy and macro F1 (over the classes in truth or output) from (truth, output) counts."""
    if not confusion:
        return {}
    classes = sorted({c for pair in confusion for c in pair}, key=repr)
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)))
    for (truth, output), n in confusion.items():
        matrix[index[truth], index[output]] += n
    tp = np.diag(matrix)
    fp, fn = matrix.sum(axis=0) - tp, matrix.sum(axis=1) - tp
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return {"accuracy": float(tp.sum() / matrix.sum()), "macro_f1": float(f1.mean())}


class _Windows:
    """Tumbling slices per model version, closed as the watermark passes them; sliding windows merged."""

    def __init__(self, spec: WindowSpec, profiles: dict[tuple[str, str], ReferenceProfile]) -> None:
        self.size = spec.window_s * 1000
        self.sliding = spec.sliding_s * 1000
        self.profiles = profiles
        self.open: dict[int, dict[ModelKey, _Slice]] = {}
        self.closed: dict[int, dict[ModelKey, _Slice]] = {}
        self.sliding_due: list[int] = []  # ends of sliding windows with data, as a heap
        self.emitted: dict[str, int] = {"tumbling": 0, "sliding": 0}
        self.labeled = 0  # labeled pairs in closed tumbling windows, as the bench counts the job's
        self.last: dict[str, Any] = {}

    def slice(self, ms: int, key: ModelKey) -> _Slice:
        start = ms - ms % self.size
        slices = self.open.get(start)
        if slices is None:
            slices = self.open[start] = {}
        s = slices.get(key)
        if s is None:
            s = slices[key] = _Slice()
        return s

    def advance(self, watermark: int) -> None:
        # A window [start, end) fires once the watermark reaches end - 1 ms, as in Flink.
        for start in sorted(s for s in self.open if s + self.size - 1 <= watermark):
            slices = self.open.pop(start)
            for key, s in slices.items():
                profile = self.profiles.get(key[:2])
                if profile is not None and (s.inputs or s.outputs):
                    s.counts = window_counts(profile, s.inputs, s.outputs)
                s.inputs, s.outputs = [], []
                s.latencies = np.asarray(s.latency)
                s.latency = []
                self._emit("tumbling", key, start, start + self.size, [s])
                self.labeled += s.labeled
            self.closed[start] = slices
            for end in range(start + self.size, start + self.sliding + 1, self.size):
                heapq.heappush(self.sliding_due, end)
        while self.sliding_due and self.sliding_due[0] - 1 <= watermark:
            end = heapq.heappop(self.sliding_due)
            while self.sliding_due and self.sliding_due[0] == end:
                heapq.heappop(self.sliding_due)
            members = [slices for start, slices in self.closed.items() if end - self.sliding <= start < end]
            keys = {key for slices in members for key in slices}
            for key in keys:
                parts = [slices[key] for slices in members if key in slices]
                self._emit("sliding", key, end - self.sliding, end, parts)
            # No later sliding window reaches back this far.
            for start in [s for s in self.closed if s < end - self.sliding + self.size]:
                del self.closed[start]

    def _emit(self, kind: str, key: ModelKey, start: int, end: int, parts: list[_Slice]) -> None:
        """One window's metrics, as the job's metrics event has them (kept, not published)."""
        predictions = sum(p.predictions for p in parts)
        labeled = sum(p.labeled for p in parts)
        confusion: Counter[tuple[Hashable, Hashable]] = Counter()
        for p in parts:
            confusion.update(p.confusion)
        latencies = [p.latencies for p in parts if p.latencies is not None and len(p.latencies)]
        quantiles = np.percentile(np.concatenate(latencies), [50, 95, 99]) if latencies else None
        drift: dict[str, dict[str, float]] = {}
        profile = self.profiles.get(key[:2])
        counted = [p.counts for p in parts if p.counts]
        if profile is not None and counted:
            counts: dict[str, np.ndarray] = {}
            for c in counted:
                for name, values in c.items():
                    counts[name] = counts[name] + values if name in counts else values.copy()
            drift = column_drift(profile, counts)
        self.emitted[kind] += 1
        self.last = {
            "kind": kind,
            "model": key,
            "start": start,
            "end": end,
            "predictions": predictions,
            "errors": sum(p.errors for p in parts),
            "feedback": sum(p.feedback for p in parts),
            "labeled": labeled,
            "label_coverage": min(1.0, labeled / predictions) if predictions else 0.0,
            "quality": _quality(confusion),
            "latency_ms": None
            if quantiles is None
            else dict(zip(("p50", "p95", "p99"), quantiles, strict=True)),
            "drift": drift,
        }


def run_baseline(
    settings: Settings,
    topics: Topics,
    pairs: int,
    profiles: dict[tuple[str, str], ReferenceProfile],
    spec: WindowSpec,
    progress: Callable[[str], None],
    stall_s: float = 60.0,
) -> BaselineResult:
    """Read until ``pairs`` labeled pairs are in closed tumbling windows; wall and CPU time of it."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"bench-py-{time.time_ns()}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 52_428_800,
            "max.partition.fetch.bytes": 10_485_760,
        }
    )
    metadata = consumer.list_topics(timeout=10)
    partitions = {t: sorted(metadata.topics[t].partitions) for t in (topics.predictions, topics.feedback)}
    consumer.assign([TopicPartition(t, p, 0) for t, ps in partitions.items() for p in ps])

    ooo, delay, skew = spec.out_of_orderness_s * 1000, spec.label_delay_s * 1000, spec.max_clock_skew_s * 1000
    per_mille = round(spec.drift_sample_rate * 1000)
    windows = _Windows(spec, profiles)
    # prediction_id -> (event ms, output, error, model key); evicted once the label delay has passed.
    predictions: dict[str, tuple[int, Any, Any, ModelKey]] = {}
    labeled_ids: set[str] = set()
    model_keys: dict[ModelKey, ModelKey] = {}
    feedback_ids: set[Hashable] = set()
    expiry: deque[tuple[int, str, Hashable]] = deque()  # (ms after which nothing joins, pid, fid)
    pending: list[
        tuple[int, int, int, str, Any]
    ] = []  # feedback that may be a label: (ms, partition, offset, …)
    newest = {(t, p): -math.inf for t, ps in partitions.items() for p in ps}
    stream_watermark = {t: -math.inf for t in partitions}
    watermark = -math.inf
    dead_letters = 0

    def judge(ms: int, pid: str, truth: Any) -> None:
        """A feedback whose turn has come: unmatched, joined, or the label."""
        nonlocal dead_letters
        prediction = predictions.get(pid)
        if prediction is None or not prediction[0] <= ms <= prediction[0] + delay:
            dead_letters += 1
            return
        _, output, error, key = prediction
        s = windows.slice(ms, key)
        s.feedback += 1
        if error is None and pid not in labeled_ids:
            labeled_ids.add(pid)
            s.labeled += 1
            s.confusion[(_hashable(truth), _hashable(output))] += 1

    # The state is millions of small tuples, dicts and sets, none in a cycle: reference
    # counting frees them, and the cyclic collector only walks them, more often the more
    # there are (with it on: 68 CPU-s per M pairs at 5M pairs, against 19 without). A
    # long-running consumer would turn it off, or freeze its state, as well.
    collecting = gc.isenabled()
    gc.disable()
    began, cpu_began = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    last_progress = began
    try:
        while windows.labeled < pairs:
            batch = consumer.consume(10_000, timeout=0.5)
            now = time.perf_counter()
            if batch:
                last_progress = now
            elif now - last_progress > stall_s:
                raise RuntimeError(
                    f"python consumer: nothing new for {stall_s:.0f} s at {windows.labeled:,} of "
                    f"{pairs:,} labeled pairs in closed windows (watermark {watermark})"
                )
            for message in batch:
                if message.error() is not None:
                    continue
                topic, partition = message.topic(), message.partition()
                kafka_ms = message.timestamp()[1]
                try:
                    event = loads(message.value() or b"")
                except ValueError:
                    dead_letters += 1
                    continue
                is_prediction = topic == topics.predictions
                valid = _valid_prediction(event) if is_prediction else _valid_feedback(event)
                ms = _event_ms(event, kafka_ms) if valid else None
                if ms is None or ms > kafka_ms + skew or ms <= stream_watermark[topic]:
                    dead_letters += 1  # broken, from the future, or late
                    continue
                if ms > newest[(topic, partition)]:
                    newest[(topic, partition)] = ms
                pid = event["prediction_id"]
                if is_prediction:
                    if pid in predictions:
                        continue  # a retried delivery
                    error, output = event.get("error"), event.get("output")
                    key = (event["model_name"], event["model_version"], event["task"])
                    key = model_keys.setdefault(key, key)  # one tuple per version, not per prediction
                    predictions[pid] = (ms, output, error, key)
                    expiry.append((ms + delay, pid, None))
                    s = windows.slice(ms, key)
                    s.predictions += 1
                    s.latency.append(event["latency_ms"])
                    if error is not None:
                        s.errors += 1
                    if zlib.crc32(pid.encode()) % 1000 < per_mille:
                        features = event.get("features")
                        s.inputs.append(event["inputs"] if features is None else features)
                        if error is None:
                            s.outputs.append(output)
                    continue
                fid = event.get("feedback_id")
                fid = fid if isinstance(fid, str) else message.value()  # no id: the body is the id
                if fid in feedback_ids:
                    continue  # a retried delivery
                feedback_ids.add(fid)
                prediction = predictions.get(pid)
                expiry.append(((prediction[0] if prediction else ms) + delay, pid, fid))
                truth = event["ground_truth"]
                if prediction is not None and (
                    prediction[2] is not None
                    or pid in labeled_ids
                    or not prediction[0] <= ms <= prediction[0] + delay
                ):
                    judge(ms, pid, truth)  # cannot be the label: decided now
                else:
                    heapq.heappush(pending, (ms, partition, message.offset(), pid, truth))
            # The watermark of each topic is its slowest partition's; the windows', the slower topic's.
            for topic, ps in partitions.items():
                stream_watermark[topic] = min(newest[(topic, p)] for p in ps) - ooo
            current = min(stream_watermark.values())
            if current > watermark:
                watermark = current
                while pending and pending[0][0] <= watermark:
                    ms, _, _, pid, truth = heapq.heappop(pending)
                    judge(ms, pid, truth)
                windows.advance(int(watermark))
                while expiry and expiry[0][0] < watermark:
                    _, pid, fid = expiry.popleft()
                    if fid is None:
                        predictions.pop(pid, None)
                        labeled_ids.discard(pid)
                    else:
                        feedback_ids.discard(fid)
            progress(f"python consumer ({PARSER}): {windows.labeled:,} of {pairs:,} pairs in closed windows")
    finally:
        consumer.close()
        if collecting:
            gc.enable()
    wall = time.perf_counter() - began
    cpu_ended = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_ended.ru_utime - cpu_began.ru_utime) + (cpu_ended.ru_stime - cpu_began.ru_stime)
    return BaselineResult(pairs, windows.labeled, wall, cpu, dict(windows.emitted), dead_letters)
