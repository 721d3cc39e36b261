"""Latency quantiles of a window from a mergeable sketch: bounded state, 0.5 % relative error.

Exact quantiles need every value of the window, so their state grows with the
traffic (a 5-minute window at 50,000 predictions/s holds 15 million latencies).
A window keeps this sketch instead (the DDSketch construction): a count per
logarithmic bucket, ``g = (1 + a) / (1 - a)``, ``a`` the relative accuracy, value ``x > 0`` in bucket
``ceil(log_g x)``, whose representative ``2 g^i / (g + 1)`` is within ``a`` of
every value in it. Two sketches merge by adding counts, so a window is the sum
of its slices. Its size is the number of buckets between the window's smallest
and largest latency (about 400 from 1 ms to 50 ms), whatever the traffic.

Quantiles follow numpy's default (linear interpolation between the values at
ranks ``floor(q (n-1))`` and ``ceil(q (n-1))``), each value estimated from its
bucket and clamped into ``[min, max]``: every quantile is within ``a`` of
``np.percentile``'s, and a window of equal values gets them exactly.

This is the reference of the feedback job's ``latency_quantiles`` aggregate
(io.closeloop.flink.LatencySketch), which is tested against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["RELATIVE_ACCURACY", "LatencySketch"]

RELATIVE_ACCURACY = 0.005
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LN_GAMMA = math.log(_GAMMA)
# Below this a latency counts as zero: no bucket index for it, and none needed.
_SMALLEST = 1e-9


@dataclass
class LatencySketch:
    count: int = 0
    zeros: int = 0
    low: float = math.inf
    high: float = -math.inf
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, value: float) -> None:
        self.count += 1
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        if value < _SMALLEST:
            self.zeros += 1
        else:
            i = math.ceil(math.log(value) / _LN_GAMMA)
            self.buckets[i] = self.buckets.get(i, 0) + 1

    def merge(self, other: LatencySketch) -> None:
        self.count += other.count
        self.zeros += other.zeros
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        for i, n in other.buckets.items():
            self.buckets[i] = self.buckets.get(i, 0) + n

    @classmethod
    def of(cls, values: Iterable[float]) -> LatencySketch:
        sketch = cls()
        for v in values:
            sketch.add(v)
        return sketch

    def quantiles(self, qs: Sequence[float]) -> list[float] | None:
        """The values at the quantiles ``qs`` (0 to 1), or None for an empty sketch."""
        if self.count == 0:
            return None
        return [self._quantile(q) for q in qs]

    def _quantile(self, q: float) -> float:
        rank = q * (self.count - 1)
        lo, hi = math.floor(rank), math.ceil(rank)
        at_lo = self._at_rank(lo)
        at_hi = at_lo if hi == lo else self._at_rank(hi)
        return at_lo + (rank - lo) * (at_hi - at_lo)

    def _at_rank(self, k: int) -> float:
        """The estimate of the k-th smallest value (0-based)."""
        if k == 0:
            return self.low
        if k == self.count - 1:
            return self.high
        seen = self.zeros
        if k < seen:
            return self.low  # within 1e-9 of every value counted as zero
        for i in sorted(self.buckets):
            seen += self.buckets[i]
            if k < seen:
                estimate = 2 * _GAMMA**i / (_GAMMA + 1)
                return min(max(estimate, self.low), self.high)
        raise AssertionError("rank beyond the count")
