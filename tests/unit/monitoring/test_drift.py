"""Drift measures against scipy and plain numpy on fixed data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from closeloop.monitoring.drift import column_drift, js_distance, psi, window_counts
from closeloop.monitoring.profiles import Bins, ReferenceProfile, build_profile

CASES = [
    ([0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]),
    ([0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]),
    ([0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]),
    ([0.7, 0.0, 0.3], [0.2, 0.5, 0.3]),
]


@pytest.mark.parametrize(("actual", "expected"), CASES)
def test_js_distance_is_scipys(actual: list[float], expected: list[float]) -> None:
    assert js_distance(np.array(actual), np.array(expected)) == pytest.approx(
        jensenshannon(actual, expected, base=2), abs=1e-12
    )


@pytest.mark.parametrize(("actual", "expected"), CASES)
def test_psi_is_the_floored_textbook_sum(actual: list[float], expected: list[float]) -> None:
    a = np.clip(actual, 1e-4, None)
    e = np.clip(expected, 1e-4, None)
    assert psi(np.array(actual), np.array(expected)) == pytest.approx(
        float(((a - e) * np.log(a / e)).sum()), abs=1e-12
    )


def test_identical_distributions_do_not_drift_and_disjoint_ones_do() -> None:
    same = np.array([0.2, 0.3, 0.5])
    assert psi(same, same) == 0.0
    assert js_distance(same, same) == 0.0
    assert js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert psi(np.array([1.0, 0.0]), np.array([0.0, 1.0])) > 10


def test_a_profile_bins_values_the_way_numpy_does() -> None:
    rng = np.random.default_rng(1)
    train = rng.normal(size=5000)
    profile = build_profile("m", "1", {"x": train}, outputs=[0, 1, 1, 2], bins=10)
    bins = profile.features["x"]
    assert len(bins.cuts) == 9 and len(bins.proportions) == 10
    assert np.allclose(bins.proportions, 0.1, atol=0.002)  # quantile cuts: about equal shares

    window = rng.normal(loc=1.0, size=2000)
    counts = window_counts(profile, [{"x": v} for v in window], outputs=[1, 1, 3])
    edges = np.concatenate([[-np.inf], bins.cuts, [np.inf]])
    assert counts["x"].tolist() == np.histogram(window, bins=edges)[0].tolist()
    # Outputs: categories 0, 1, 2 and one bin for anything unseen in training.
    assert counts["__output__"].tolist() == [0, 2, 0, 1]

    drift = column_drift(profile, counts)
    actual = counts["x"] / counts["x"].sum()
    assert drift["x"]["js"] == pytest.approx(jensenshannon(actual, bins.proportions, base=2), abs=1e-12)
    assert drift["x"]["psi"] > 0.2  # a shift of one standard deviation is serious drift


def test_rows_without_a_feature_count_for_none_of_its_bins() -> None:
    profile = build_profile("m", "1", {"x": [0.0, 1.0, 2.0, 3.0], "y": [0.0, 1.0, 2.0, 3.0]}, bins=2)
    counts = window_counts(profile, [{"x": 0.5}, {"y": 2.5}, {"x": "oops"}])
    assert counts["x"].sum() == 1 and counts["y"].sum() == 1
    assert "__output__" not in column_drift(profile, counts)


def test_bins_refuse_inconsistent_shapes() -> None:
    with pytest.raises(ValueError, match="need 3 proportions"):
        Bins(kind="numeric", cuts=[1.0, 2.0], proportions=[0.5, 0.5])
    with pytest.raises(ValueError, match="sum to"):
        Bins(kind="categorical", categories=['"a"'], proportions=[0.5, 0.2])
    with pytest.raises(ValueError, match="increase strictly"):
        Bins(kind="numeric", cuts=[2.0, 1.0], proportions=[0.3, 0.3, 0.4])
    assert ReferenceProfile(model_name="m", model_version="1", rows=0, features={}).columns() == {}
