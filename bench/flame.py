"""Where the feedback job's CPU goes, read off a flame graph from Flink's profiler (a helper, not a bench).

Flink's REST API runs async-profiler on a TaskManager
(`rest.profiling.enabled`, on in docker/flink/config.yaml) and serves the
result as async-profiler's HTML flame graph: one `f(level, left, width, type,
'frame')` call per frame, depth first. `stages` charges every sample to the
first stage, in STAGES order, whose pattern matches a frame of its stack, so
a stage is what its frames and everything they call cost, minus the stages
listed before it (a window aggregate that pair_join's output calls into is
the window's, not pair_join's).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

__all__ = ["LOAD_METRICS", "STAGES", "Frame", "chain_name", "frames", "stages", "vertex_loads"]

#: (stage, a regular expression one frame of the stack must match), first match wins.
STAGES: list[tuple[str, str]] = [
    ("pair_join: state read (RocksDB get)", r"ValueState\.value"),
    ("pair_join: state write (RocksDB put)", r"ValueState\.update"),
    ("lake: Parquet writer", r"AbstractStreamingWriter|ParquetBulkWriter"),
    ("windows: local aggregate", r"LocalSlicingWindowAggOperator"),
    ("windows: global aggregate, metrics_event", r"WindowAggOperator|SlicingWindowOperator|PythonCalc|beam"),
    ("pair_join: output rows (the SQL after it)", r"PairJoin\.collect"),
    ("pair_join: statistics", r"TaskStatistics"),
    ("pair_join: timers", r"HeapPriorityQueue|registerEventTimeTimer"),
    ("pair_join: its own work", r"PairJoin|KeyedProcessOperator"),
    ("network: serialize", r"RecordWriter\.|StreamElementSerializer\.serialize"),
    ("network: deserialize", r"SpanningRecordDeserializer|StreamElementSerializer\.deserialize"),
    ("sources: parse and contract rules (JVM)", r"EventMembers|EventContract|EventDeserializer"),
    ("sources: event time", r"EventTime"),
    ("sources: late check, dead letters split off", r"InvalidEvents"),
    ("sources: Kafka records", r"SourceOperator\.emitNext|KafkaRecordEmitter"),
    ("Kafka fetch threads", r"KafkaPartitionSplitReader|KafkaConsumer"),
    ("checkpoints", r"performCheckpoint|AsyncCheckpointRunnable|SnapshotStrategy"),
    ("RocksDB compaction, flush", r"rocksdb::DBImpl::BG|BGThread"),
    ("JIT compiler", r"CompileBroker"),
    ("garbage collector", r"G1|GCTaskThread|ConcurrentGCThread|WorkerThread::run"),
]

_FRAME = re.compile(r"^f\((\d+),(\d+),(\d+),(\d+),'(.*)'(?:,[\d,]*)?\)\s*$")


@dataclass(frozen=True)
class Frame:
    depth: int
    width: int
    name: str
    samples: int  # its own: its width less its children's
    stack: tuple[str, ...]  # from the root to it


def frames(html: str) -> list[Frame]:
    """The flame graph's frames, each with its own samples and its stack."""
    raw = [(int(m[1]), int(m[3]), m[5]) for m in map(_FRAME.match, html.splitlines()) if m]
    own = [width for _, width, _ in raw]
    stack: list[int] = []
    paths: list[tuple[str, ...]] = []
    for i, (depth, width, name) in enumerate(raw):
        while stack and raw[stack[-1]][0] >= depth:
            stack.pop()
        if stack:
            own[stack[-1]] -= width
        paths.append((*(raw[j][2] for j in stack), name))
        stack.append(i)
    return [Frame(d, w, n, s, p) for (d, w, n), s, p in zip(raw, own, paths, strict=True)]


def stages(html: str) -> tuple[int, list[tuple[str, float]]]:
    """All samples, and each stage's share of them (largest first; 'other' last)."""
    found = frames(html)
    if not found:
        raise ValueError("no flame graph frames in this page")
    total = found[0].width
    compiled = [(name, re.compile(pattern)) for name, pattern in STAGES]
    shares: Counter[str] = Counter()
    for frame in found:
        if frame.samples <= 0:
            continue
        text = "\n".join(frame.stack)
        stage = next((name for name, pattern in compiled if pattern.search(text)), "other")
        shares[stage] += frame.samples
    ordered = [(s, n / total) for s, n in shares.most_common() if s != "other"]
    return total, [*ordered, ("other", shares["other"] / total)]


#: Flink's per-subtask time metrics, each in ms per second, averaged over a vertex's subtasks.
LOAD_METRICS = ("busyTimeMsPerSecond", "backPressuredTimeMsPerSecond", "idleTimeMsPerSecond")


def chain_name(vertex: str) -> str:
    """A job vertex's name as its operators, without their arguments.

    Flink SQL names a chain after each operator with its whole expression in
    brackets and parentheses ("Calc[2](select=[...]) -> ..."), and a chain
    that fans out as "A -> (B, C -> D)"; what tells the chains apart is the
    operators' own names.
    """
    out: list[str] = []
    arguments = 0  # depth inside an operator's [id] or (arguments)
    groups = 0  # depth inside fan-out groups, which are kept
    for i, char in enumerate(vertex):
        if arguments:
            arguments += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        elif char == "[" or (char == "(" and vertex[:i].rstrip()[-1:] not in ("", ">", ",")):
            arguments = 1  # right after an operator's name or id: its arguments
        elif char == "(":
            groups += 1
            out.append(char)
        elif char == ")" and groups:
            groups -= 1
            out.append(char)
        else:
            out.append(char)
    text = " ".join("".join(out).replace("Source: ", "").split())
    text = text.replace("KafkaSource-default_catalog.default_database.", "")
    return text.replace(" -> ", " → ").replace("->", " → ")


def vertex_loads(samples: list[dict[str, dict[str, float]]]) -> list[tuple[str, float, float, float]]:
    """(vertex, busy, backpressured, idle) as shares of time, averaged over samples, busiest first.

    Each sample maps a vertex name to its LOAD_METRICS (ms per second,
    averaged over its subtasks); a metric Flink reported as NaN is left out.
    """
    sums: dict[str, list[list[float]]] = {}
    for sample in samples:
        for vertex, metrics in sample.items():
            slots = sums.setdefault(vertex, [[] for _ in LOAD_METRICS])
            for slot, name in zip(slots, LOAD_METRICS, strict=True):
                value = metrics.get(name)
                if value is not None and value == value:  # NaN != NaN
                    slot.append(value / 1000)
    rows = [
        (vertex, *(sum(slot) / len(slot) if slot else float("nan") for slot in slots))
        for vertex, slots in sums.items()
    ]
    return sorted(rows, key=lambda row: -row[1] if row[1] == row[1] else 0.0)  # type: ignore[return-value]
