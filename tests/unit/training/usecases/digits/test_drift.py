"""The digits drift generator: deterministic, bounded, felt by the default model and fixed by a retrain."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from training.usecases import TARGET, BaseData, get_use_case
from training.usecases.digits import FEATURES
from training.usecases.digits.drift import DRIFT_KINDS, apply_drift, drift_frame


@pytest.fixture(scope="module")
def base() -> BaseData:
    return get_use_case("digits").base_data()


@pytest.fixture(scope="module")
def rows(base: BaseData) -> np.ndarray:
    return base.test[FEATURES].to_numpy(dtype=np.float64)


@pytest.fixture(scope="module")
def model(base: BaseData) -> Any:
    return get_use_case("digits").train(base.train, {})


def _image(*pixels: tuple[int, int], value: float = 16.0) -> np.ndarray:
    image = np.zeros((8, 8))
    for row, column in pixels:
        image[row, column] = value
    return image.reshape(64)


def test_the_kinds() -> None:
    assert {"thickness", "rotation", "noise", "shift", "contrast"} <= set(DRIFT_KINDS)


@pytest.mark.parametrize("kind", DRIFT_KINDS)
def test_the_same_arguments_give_the_same_rows(rows: np.ndarray, kind: str) -> None:
    first = apply_drift(rows, kind, 1.3, seed=7)
    np.testing.assert_array_equal(first, apply_drift(rows.copy(), kind, 1.3, seed=7))
    assert not np.array_equal(first, rows)


def test_the_seed_drives_the_noise(rows: np.ndarray) -> None:
    assert not np.array_equal(apply_drift(rows, "noise", seed=1), apply_drift(rows, "noise", seed=2))


@pytest.mark.parametrize("kind", DRIFT_KINDS)
def test_severity_zero_changes_nothing_and_never_the_callers_rows(rows: np.ndarray, kind: str) -> None:
    before = rows.copy()
    same = apply_drift(rows, kind, 0.0, seed=3)
    np.testing.assert_array_equal(same, rows)
    assert same is not rows
    apply_drift(rows, kind, 2.0, seed=3)
    np.testing.assert_array_equal(rows, before)


@pytest.mark.parametrize("kind", DRIFT_KINDS)
@pytest.mark.parametrize("severity", [0.25, 1.0, 3.0])
def test_drifted_rows_are_floats_of_the_same_shape_in_range(
    rows: np.ndarray, kind: str, severity: float
) -> None:
    drifted = apply_drift(rows.astype(np.int64), kind, severity)
    assert drifted.shape == rows.shape and drifted.dtype == np.float64
    assert drifted.min() >= 0.0 and drifted.max() <= 16.0
    one = apply_drift(rows[0], kind, severity)
    assert one.shape == (64,)
    np.testing.assert_allclose(one, drifted[0], atol=1e-12)


@pytest.mark.parametrize("kind", DRIFT_KINDS)
def test_more_severity_is_more_drift(rows: np.ndarray, kind: str) -> None:
    change = [np.abs(apply_drift(rows, kind, s) - rows).mean() for s in (0.25, 0.5, 1.0, 2.0)]
    assert change == sorted(change) and change[0] > 0


def test_bad_arguments_are_refused(rows: np.ndarray) -> None:
    with pytest.raises(
        ValueError, match="unknown drift kind 'blur'; known kinds: thickness, rotation, noise"
    ):
        apply_drift(rows, "blur")
    with pytest.raises(ValueError, match="severity"):
        apply_drift(rows, "noise", -0.5)
    with pytest.raises(ValueError, match="severity"):
        apply_drift(rows, "noise", float("nan"))
    with pytest.raises(ValueError, match=r"64 pixel values.*\(3, 63\)"):
        apply_drift(np.zeros((3, 63)), "noise")


def test_each_kind_does_what_it_says() -> None:
    # Thickness: the point's four neighbours take its ink; nothing else changes.
    thick = apply_drift(_image((3, 3)), "thickness").reshape(8, 8)
    assert {tuple(p) for p in np.argwhere(thick > 0)} == {(3, 3), (2, 3), (4, 3), (3, 2), (3, 4)}
    assert thick[2, 3] == 16.0
    half = apply_drift(_image((3, 3)), "thickness", 0.5).reshape(8, 8)
    assert half[2, 3] == 8.0 and half[3, 3] == 16.0
    # Rotation: 20° per unit, counter-clockwise as displayed; 4.5 units are a quarter turn.
    turned = apply_drift(_image((0, 4)), "rotation", 4.5).reshape(8, 8)
    assert tuple(np.unravel_index(turned.argmax(), turned.shape)) == (3, 0)
    # Shift: one pixel down and one right per unit.
    moved = apply_drift(_image((2, 3)), "shift").reshape(8, 8)
    assert tuple(np.argwhere(moved > 1e-9)[0]) == (3, 4) and moved[3, 4] == pytest.approx(16.0)
    # Contrast: ink at a third of its intensity at severity 1.
    np.testing.assert_allclose(apply_drift(_image((5, 5), value=12.0), "contrast"), _image((5, 5), value=4.0))
    # Noise: centred, standard deviation 3 per unit (on mid-grey, so clipping does not bias it).
    grey = np.full((2000, 64), 8.0)
    noise = apply_drift(grey, "noise", 0.5) - grey
    assert abs(noise.mean()) < 0.02 and noise.std() == pytest.approx(1.5, rel=0.02)


def test_drift_frame_changes_the_pixels_only(base: BaseData) -> None:
    frame = base.test.head(30).assign(prediction_id=[f"p{i}" for i in range(30)])
    frame.index = range(100, 130)
    before = frame.copy()
    drifted = drift_frame(frame, "rotation", 1.0, seed=4)
    pd.testing.assert_frame_equal(frame, before)
    assert list(drifted.columns) == list(frame.columns)
    assert list(drifted.index) == list(frame.index)
    np.testing.assert_array_equal(
        drifted[FEATURES].to_numpy(), apply_drift(frame[FEATURES].to_numpy(), "rotation")
    )
    pd.testing.assert_series_equal(drifted[TARGET], frame[TARGET])
    pd.testing.assert_series_equal(drifted["prediction_id"], frame["prediction_id"])
    with pytest.raises(ValueError, match="pixel_63"):
        drift_frame(frame.drop(columns="pixel_63"), "rotation")


@pytest.mark.parametrize("kind", DRIFT_KINDS)
def test_at_severity_one_the_default_model_loses_much_of_its_accuracy(
    base: BaseData, model: Any, kind: str
) -> None:
    use_case = get_use_case("digits")
    clean = use_case.evaluate(model, base.test)["accuracy"]
    drifted = use_case.evaluate(model, drift_frame(base.test, kind, 1.0, seed=1))["accuracy"]
    assert clean > 0.95
    assert drifted < 0.75


@pytest.mark.parametrize("kind", ["thickness", "rotation"])
def test_retraining_on_drifted_examples_recovers(base: BaseData, model: Any, kind: str) -> None:
    use_case = get_use_case("digits")
    # Different seeds for train and test: the retrained model must not just have seen the test noise.
    train = pd.concat([base.train, drift_frame(base.train, kind, 1.0, seed=0)], ignore_index=True)
    test = drift_frame(base.test, kind, 1.0, seed=1)
    retrained = use_case.train(train, {})
    assert use_case.evaluate(retrained, test)["accuracy"] >= 0.9
    # ...without forgetting the clean digits.
    assert use_case.evaluate(retrained, base.test)["accuracy"] >= 0.93
