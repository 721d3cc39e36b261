"""Drift of a window against a reference profile: population stability index and Jensen-Shannon distance.

Both compare the share of the window in each bin (``actual``) with the
reference's (``expected``):

- PSI = Σ (aᵢ - eᵢ)·ln(aᵢ / eᵢ), with every share floored at 1e-4 so an empty
  bin does not make it infinite (the usual convention);
- JS distance = √JSD(a ‖ e), base 2, between 0 (same) and 1 (disjoint), as
  scipy.spatial.distance.jensenshannon computes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from closeloop.monitoring.profiles import ReferenceProfile

__all__ = ["PSI_FLOOR", "column_drift", "js_distance", "psi", "window_counts"]

PSI_FLOOR = 1e-4


def psi(actual: np.ndarray, expected: np.ndarray) -> float:
    a = np.maximum(np.asarray(actual, dtype=np.float64), PSI_FLOOR)
    e = np.maximum(np.asarray(expected, dtype=np.float64), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(actual: np.ndarray, expected: np.ndarray) -> float:
    p = np.asarray(actual, dtype=np.float64)
    q = np.asarray(expected, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / m[mask])))

    divergence = (kl(p) + kl(q)) / 2
    return float(np.sqrt(max(divergence, 0.0)))


def window_counts(
    profile: ReferenceProfile, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Any] | None = None
) -> dict[str, np.ndarray]:
    """Bin counts of a window, per profiled column; a row without a feature counts for none of its bins."""
    counts = {}
    for name, bins in profile.features.items():
        values = [row[name] for row in inputs if isinstance(row.get(name), int | float)]
        counts[name] = bins.counts(values)
    if profile.output is not None and outputs is not None:
        counts["__output__"] = profile.output.counts(outputs)
    return counts


def column_drift(profile: ReferenceProfile, counts: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """PSI and JS distance per column that has at least one value in the window."""
    result = {}
    for name, bins in profile.columns().items():
        column = counts.get(name)
        if column is None or column.sum() == 0:
            continue
        actual = column / column.sum()
        expected = np.asarray(bins.proportions)
        result[name] = {"psi": psi(actual, expected), "js": js_distance(actual, expected)}
    return result
