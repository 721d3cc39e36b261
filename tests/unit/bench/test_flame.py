"""bench/flame.py: a flame graph's samples charged to the feedback job's stages."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("flame", Path(__file__).parents[3] / "bench" / "flame.py")
assert _spec is not None and _spec.loader is not None
flame = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("flame", flame)  # its dataclass looks its module up there
_spec.loader.exec_module(flame)

# async-profiler's HTML: f(level, left, width, type, 'frame'[, inlined counts]), depth first.
PAGE = """<html><script>
f(0,0,20,3,'all')
f(1,0,16,1,'java/lang/Thread.run')
f(2,0,6,1,'org/apache/flink/streaming/api/operators/SourceOperator.emitNext')
f(3,0,4,1,'io/closeloop/flink/EventMembers.parse',0,1,0)
f(2,6,10,1,'io/closeloop/flink/PairJoin.processElement')
f(3,6,5,1,'org/apache/flink/contrib/streaming/state/RocksDBValueState.value')
f(4,6,5,4,'org/rocksdb/RocksDB.get')
f(3,11,3,1,'io/closeloop/flink/PairJoin.collect')
f(4,11,2,1,'org/apache/flink/table/runtime/operators/aggregate/window/LocalSlicingWindowAggOperator.processElement')
f(1,16,4,3,'__memcpy')
</script></html>
"""


def test_each_frame_keeps_its_own_samples() -> None:
    found = {f.name.rsplit("/", 1)[-1]: f for f in flame.frames(PAGE)}
    assert found["all"].samples == 0
    assert found["SourceOperator.emitNext"].samples == 2  # 6 less its child's 4
    assert found["EventMembers.parse"].samples == 4  # a frame with inlined counts is read too
    assert found["PairJoin.processElement"].samples == 2
    assert found["RocksDB.get"].stack[-2].endswith("RocksDBValueState.value")


def test_a_sample_goes_to_the_first_stage_its_stack_matches() -> None:
    total, shares = flame.stages(PAGE)
    assert total == 20
    got = dict(shares)
    assert got["pair_join: state read (RocksDB get)"] == pytest.approx(5 / 20)
    # The window below pair_join's collect is the window's; the rest of collect is pair_join's output.
    assert got["windows: local aggregate"] == pytest.approx(2 / 20)
    assert got["pair_join: output rows (the SQL after it)"] == pytest.approx(1 / 20)
    assert got["pair_join: its own work"] == pytest.approx(2 / 20)
    assert got["sources: parse and contract rules (JVM)"] == pytest.approx(4 / 20)
    assert got["sources: Kafka records"] == pytest.approx(2 / 20)
    assert shares[-1] == ("other", pytest.approx(4 / 20))
    assert sum(share for _, share in shares) == pytest.approx(1.0)


def test_a_page_without_a_flame_graph_is_refused() -> None:
    with pytest.raises(ValueError, match="no flame graph"):
        flame.stages("<html>profiling failed</html>")


def test_chain_name_keeps_the_operators_and_drops_their_arguments() -> None:
    vertex = (
        "Source: prediction_source[1] -> Calc[2](select=[f(a, (b)), c], where=[x > 1]) "
        "-> ProcessTableFunction[5](invocation=[pair_join(TABLE(#0) PARTITION BY($0))])"
    )
    assert flame.chain_name(vertex) == "prediction_source → Calc → ProcessTableFunction"


def test_chain_name_keeps_a_fan_out() -> None:
    vertex = (
        "ProcessTableFunction[5](uid=[pair-join]) -> (Calc[6](select=[a]) -> "
        "LocalWindowAggregate[7](groupBy=[m], window=[TUMBLE(size=[1 min])]), "
        "Calc[9](where=[(labeled AND x)]) -> StreamingFileWriter)"
    )
    assert flame.chain_name(vertex) == (
        "ProcessTableFunction → (Calc → LocalWindowAggregate, Calc → StreamingFileWriter)"
    )


def test_vertex_loads_average_each_metric_and_put_the_busiest_first() -> None:
    samples = [
        {
            "sources": {"busyTimeMsPerSecond": 200.0, "backPressuredTimeMsPerSecond": 600.0},
            "pair join": {"busyTimeMsPerSecond": 900.0, "idleTimeMsPerSecond": 100.0},
        },
        {
            "sources": {"busyTimeMsPerSecond": 400.0, "backPressuredTimeMsPerSecond": float("nan")},
            "pair join": {"busyTimeMsPerSecond": 1000.0, "idleTimeMsPerSecond": 0.0},
        },
    ]
    loads = flame.vertex_loads(samples)
    assert [vertex for vertex, *_ in loads] == ["pair join", "sources"]
    _, busy, pressured, idle = loads[0]
    assert (busy, idle) == (pytest.approx(0.95), pytest.approx(0.05))
    assert pressured != pressured  # never reported: NaN
    _, busy, pressured, idle = loads[1]
    assert (busy, pressured) == (pytest.approx(0.3), pytest.approx(0.6))  # the NaN sample left out
    assert idle != idle  # never reported: NaN
