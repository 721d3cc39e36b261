"""The latency sketch: the JVM's (io.closeloop.flink.LatencySketch) against Python's, and numpy.

The job's quantiles must be those of closeloop.monitoring.latency, which in
turn must be within its relative accuracy of ``np.percentile`` (linear
interpolation), merged from slices or not.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from closeloop.monitoring.latency import RELATIVE_ACCURACY, LatencySketch
from tests.unit.streaming.jvm import JvmTwin, jvm  # noqa: F401

QS = [0.5, 0.95, 0.99]


def python_quantiles(parts: list[list[float]], qs: list[float] = QS) -> list[float] | None:
    total = LatencySketch()
    for part in parts:
        total.merge(LatencySketch.of(part))
    return total.quantiles(qs)


def jvm_quantiles(jvm: JvmTwin, parts: list[list[float]], qs: list[float] = QS) -> object:  # noqa: F811
    return jvm.call("latency", json.dumps(parts), json.dumps(qs))


EDGES = [
    [[]],
    [[], []],
    [[7.5]],
    [[1.0] * 10],  # equal values: exact
    [[0.0]],
    [[0.0, 0.0, 3.0]],
    [[0.0, 5e-10, 1e-9, 2.0]],  # at and below the zero threshold
    [[1.0, 50.0]],  # two values: p50 halfway
    [[12.25], [0.5], [], [99.0, 3.0]],  # slices of one window, some empty
    [[1e-6, 1e6]],  # a wide span: buckets grow both ways
    [[60_000.0, 0.001, 250.0, 250.0, 250.0]],
]


@pytest.mark.parametrize("parts", EDGES)
def test_the_jvm_sketch_gives_python_s_quantiles(jvm: JvmTwin, parts: list[list[float]]) -> None:  # noqa: F811
    want = python_quantiles(parts)
    got = jvm_quantiles(jvm, parts)
    assert got == (None if want is None else pytest.approx(want, rel=1e-12, abs=1e-12))


def test_random_windows_agree_and_stay_within_the_accuracy(jvm: JvmTwin) -> None:  # noqa: F811
    rng = random.Random(7)
    qs = [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0]
    for trial in range(200):
        n = rng.choice([1, 2, 3, 10, 100, 1000])
        scale = rng.choice([0.01, 1.0, 30.0, 5000.0])
        values = [round(rng.lognormvariate(0, 1) * scale, 3) for _ in range(n)]
        cuts = sorted(rng.sample(range(n + 1), k=min(3, n + 1)))
        parts = [values[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
        want = python_quantiles(parts, qs)
        assert jvm_quantiles(jvm, parts, qs) == pytest.approx(want, rel=1e-12, abs=1e-12), trial
        exact = np.percentile(values, [q * 100 for q in qs])
        # Zeros (values below 1e-9) are estimated by the smallest value: absolute, not relative.
        assert want == pytest.approx(exact.tolist(), rel=RELATIVE_ACCURACY * (1 + 1e-9), abs=1e-9), trial


def test_merging_slices_gives_the_whole_window_s_quantiles() -> None:
    rng = random.Random(3)
    values = [rng.uniform(1, 50) for _ in range(5000)]
    whole = LatencySketch.of(values)
    merged = LatencySketch()
    for i in range(0, 5000, 700):
        merged.merge(LatencySketch.of(values[i : i + 700]))
    assert merged == whole
    # Bounded state: the buckets between 1 ms and 50 ms, not one per value.
    assert len(whole.buckets) <= 400


def test_equal_values_and_the_extremes_are_exact() -> None:
    sketch = LatencySketch.of([3.3] * 7 + [0.2, 41.0])
    assert sketch.quantiles([0.0, 0.5, 1.0]) == [0.2, pytest.approx(3.3, rel=RELATIVE_ACCURACY), 41.0]
    assert LatencySketch.of([4.2] * 100).quantiles(QS) == [4.2, 4.2, 4.2]
