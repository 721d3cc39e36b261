"""A retrained version's reference profile describes what it will serve, so its own drift stays quiet."""

from __future__ import annotations

import pandas as pd

from closeloop.monitoring.drift import column_drift, window_counts
from training.dataset import Dataset
from training.train import serving_frame
from training.usecases import get_use_case
from training.usecases.digits import FEATURES
from training.usecases.digits.drift import drift_frame


def _dataset(holdout: pd.DataFrame) -> Dataset:
    base = get_use_case("digits").base_data()
    return Dataset(train=base.train, holdout=holdout.reset_index(drop=True), test=base.test)


def test_the_newest_feedback_once_there_is_enough_of_it() -> None:
    base = get_use_case("digits").base_data()
    enough = _dataset(base.test.head(200))
    frame, source = serving_frame(enough, min_recent_rows=200)
    assert frame.equals(enough.holdout) and source == "the newest feedback (200 rows)"
    few = _dataset(base.test.head(199))
    frame, source = serving_frame(few, min_recent_rows=200)
    assert frame is few.train and source.startswith("the training data")


def test_a_small_holdout_is_topped_up_with_the_newest_feedback_trained_on() -> None:
    base = get_use_case("digits").base_data()
    feedback = base.test.iloc[:300]
    # The newest 120 rows held out, 180 trained on after the base rows (as build_dataset leaves them).
    dataset = Dataset(
        train=pd.concat([base.train, feedback.iloc[:180]], ignore_index=True),
        holdout=feedback.iloc[180:].reset_index(drop=True),
        test=base.test,
        counts={"feedback_train": 180},
    )
    frame, source = serving_frame(dataset, min_recent_rows=200)
    assert source == "the newest feedback (200 rows)"
    assert frame.equals(feedback.iloc[100:].reset_index(drop=True))
    # Not enough feedback even with what trained: the training data.
    frame, source = serving_frame(dataset, min_recent_rows=400)
    assert frame is dataset.train and source.startswith("the training data")


def _max_psi(profile_frame: pd.DataFrame, traffic: pd.DataFrame) -> float:
    use_case = get_use_case("digits")
    model = use_case.train(get_use_case("digits").base_data().train, {})
    profile = use_case.reference_profile(model, profile_frame, "2")
    counts = window_counts(profile, traffic[FEATURES].to_dict("records"))
    return max(d["psi"] for d in column_drift(profile, counts).values())


def test_drifted_traffic_is_no_drift_against_a_profile_of_the_drifted_feedback() -> None:
    base = get_use_case("digits").base_data()
    drifted = drift_frame(base.test, "thickness", seed=1)
    feedback, traffic = drifted.iloc[: len(drifted) // 2], drifted.iloc[len(drifted) // 2 :]
    dataset = _dataset(feedback)
    on_training_data = _max_psi(dataset.train, traffic)
    on_served_data = _max_psi(serving_frame(dataset, min_recent_rows=200)[0], traffic)
    # The drift the version was retrained for, by the streaming job's measure (about 4.8 and 0.2).
    assert on_training_data > 2.0
    assert on_served_data < 0.5
