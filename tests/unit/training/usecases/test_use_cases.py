"""The use cases keep the UseCase contract: base data, training, metrics and reference profiles."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_digits
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error

from closeloop.monitoring.profiles import category
from closeloop.tasks import get_task
from training.usecases import (
    TARGET,
    BaseData,
    UseCase,
    get_use_case,
    use_case_names,
)


@pytest.fixture(scope="module")
def digits() -> UseCase:
    return get_use_case("digits")


@pytest.fixture(scope="module")
def diabetes() -> UseCase:
    return get_use_case("diabetes")


@pytest.fixture(scope="module")
def trained() -> dict[str, tuple[BaseData, Any]]:
    """Each use case's base data and its default model, trained once for the module."""
    out = {}
    for name in use_case_names():
        use_case = get_use_case(name)
        base = use_case.base_data()
        out[name] = (base, use_case.train(base.train, {}))
    return out


def test_the_use_cases_say_what_they_are(digits: UseCase, diabetes: UseCase) -> None:
    assert (digits.task, digits.model_name, digits.primary_metric) == (
        "classification",
        "closeloop-digits",
        "accuracy",
    )
    assert digits.higher_is_better and digits.categorical_output
    assert digits.features() == [f"pixel_{i}" for i in range(64)]
    assert (diabetes.task, diabetes.model_name, diabetes.primary_metric) == (
        "regression",
        "closeloop-diabetes",
        "mae",
    )
    assert not diabetes.higher_is_better and not diabetes.categorical_output
    assert diabetes.features() == list(load_diabetes().feature_names)


def _sorted_rows(values: np.ndarray) -> np.ndarray:
    return values[np.lexsort(values.T[::-1])]


@pytest.mark.parametrize(("name", "load"), [("digits", load_digits), ("diabetes", load_diabetes)])
def test_base_data_is_the_whole_dataset_split_the_same_way_every_time(name: str, load: Any) -> None:
    use_case = get_use_case(name)
    first, second = use_case.base_data(), use_case.base_data()
    pd.testing.assert_frame_equal(first.train, second.train)
    pd.testing.assert_frame_equal(first.test, second.test)

    columns = [*use_case.features(), TARGET]
    assert list(first.train.columns) == columns and list(first.test.columns) == columns
    assert all(first.train[f].dtype == np.float64 for f in use_case.features())
    assert first.train.notna().all().all() and first.test.notna().all().all()

    # Disjoint and complete: train and test together are the dataset's rows, each exactly once.
    source = load()
    whole = np.column_stack([source.data, source.target])
    split = pd.concat([first.train, first.test])[columns].to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(_sorted_rows(split), _sorted_rows(whole))
    assert len(first.test) == pytest.approx(0.25 * len(whole), abs=1)


def test_digits_labels_are_ints_and_the_test_set_is_stratified(digits: UseCase) -> None:
    base = digits.base_data()
    assert base.train[TARGET].dtype == np.int64
    shares = base.test[TARGET].value_counts(normalize=True).sort_index()
    overall = pd.Series(load_digits().target).value_counts(normalize=True).sort_index()
    assert list(shares.index) == list(range(10))
    assert (shares - overall).abs().max() < 0.01


def test_digits_trains_fast_and_well(trained: dict, digits: UseCase) -> None:
    base, _ = trained["digits"]
    started = time.perf_counter()
    model = digits.train(base.train, {})
    assert time.perf_counter() - started < 2.0
    scores = digits.evaluate(model, base.test)
    assert set(scores) == set(get_task("classification").metric_names)
    assert scores["accuracy"] > 0.9
    assert scores["macro_f1"] > 0.9


def test_diabetes_beats_predicting_the_mean(trained: dict, diabetes: UseCase) -> None:
    base, model = trained["diabetes"]
    scores = diabetes.evaluate(model, base.test)
    baseline = mean_absolute_error(base.test[TARGET], np.full(len(base.test), base.train[TARGET].mean()))
    assert scores["mae"] < 0.85 * baseline
    assert scores["rmse"] >= scores["mae"]


def test_evaluate_agrees_with_scikit_learn(trained: dict, digits: UseCase, diabetes: UseCase) -> None:
    base, model = trained["digits"]
    truth, predicted = base.test[TARGET], model.predict(base.test[digits.features()])
    scores = digits.evaluate(model, base.test)
    assert scores["accuracy"] == pytest.approx(accuracy_score(truth, predicted), abs=1e-9)
    assert scores["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"), abs=1e-9)

    base, model = trained["diabetes"]
    truth, predicted = base.test[TARGET], model.predict(base.test[diabetes.features()])
    scores = diabetes.evaluate(model, base.test)
    assert scores["mae"] == pytest.approx(mean_absolute_error(truth, predicted), abs=1e-9)
    assert scores["rmse"] == pytest.approx(math.sqrt(mean_squared_error(truth, predicted)), abs=1e-9)


def test_predictions_are_the_plain_values_events_carry(
    trained: dict, digits: UseCase, diabetes: UseCase
) -> None:
    base, model = trained["digits"]
    labels = digits.predict(model, base.test.head(20))
    assert len(labels) == 20 and all(type(v) is int and 0 <= v <= 9 for v in labels)
    base, model = trained["diabetes"]
    values = diabetes.predict(model, base.test.head(20))
    assert len(values) == 20 and all(type(v) is float and math.isfinite(v) for v in values)


def test_params_reach_the_model_and_unknown_ones_are_refused(trained: dict, digits: UseCase) -> None:
    base, default = trained["digits"]
    assert set(digits.default_params()) == {"C", "max_iter"}
    weak = digits.train(base.train, {"C": 1e-4})
    assert weak.get_params()["classify__C"] == 1e-4
    assert digits.evaluate(weak, base.test)["accuracy"] < digits.evaluate(default, base.test)["accuracy"]
    with pytest.raises(ValueError, match=r"unknown training params \['c'\]; known: \['C', 'max_iter'\]"):
        digits.train(base.train, {"c": 1.0})
    diabetes = get_use_case("diabetes")
    with pytest.raises(ValueError, match="unknown training params"):
        diabetes.train(trained["diabetes"][0].train, {"alpha": 1.0, "l1_ratio": 0.5})


def test_training_accepts_feedback_joined_as_objects(trained: dict, digits: UseCase) -> None:
    """Base rows concatenated with lake feedback can leave the target as an object column."""
    base, _ = trained["digits"]
    frame = base.train.astype({TARGET: object})
    labels = digits.predict(digits.train(frame, {}), base.test.head(5))
    assert all(type(v) is int for v in labels)


@pytest.mark.parametrize("name", ["digits", "diabetes"])
def test_the_reference_profile_covers_every_feature_and_the_output(trained: dict, name: str) -> None:
    use_case = get_use_case(name)
    base, model = trained[name]
    profile = use_case.reference_profile(model, base.train, "7")
    assert (profile.model_name, profile.model_version, profile.rows) == (
        use_case.model_name,
        "7",
        len(base.train),
    )
    assert list(profile.features) == use_case.features()
    assert all(b.kind == "numeric" for b in profile.features.values())
    assert profile.output is not None
    predictions = use_case.predict(model, base.train)
    if use_case.categorical_output:
        assert profile.output.kind == "categorical"
        assert set(profile.output.categories) == {category(v) for v in predictions}
    else:
        assert profile.output.kind == "numeric"
        assert profile.output.cuts[0] >= min(predictions) and profile.output.cuts[-1] <= max(predictions)
