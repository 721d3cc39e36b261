"""The use-case registry: every entry loads its use case, names agree, unknown names are explained."""

from __future__ import annotations

import pandas as pd
import pytest

from closeloop.errors import CloseloopError
from closeloop.tasks import get_task
from training.usecases import (
    USE_CASES,
    UseCase,
    UseCaseError,
    get_use_case,
    use_case_class,
    use_case_names,
)


def test_the_registry_lists_them_all_and_each_entry_loads_its_use_case() -> None:
    assert use_case_names() == ["diabetes", "digits", "ocr", "shapes", "speech"]
    for name in USE_CASES:
        use_case = get_use_case(name)
        assert isinstance(use_case, UseCase)
        assert type(use_case) is use_case_class(name)
        assert use_case.name == name
        assert get_use_case(name) is use_case  # cached: one instance per name
        assert use_case.primary_metric in get_task(use_case.task).metric_names
        assert use_case.description


def test_an_unknown_use_case_lists_the_known() -> None:
    with pytest.raises(
        UseCaseError,
        match=r"unknown use case 'mnist'; known use cases: diabetes, digits, ocr, shapes, speech$",
    ) as err:
        get_use_case("mnist")
    assert isinstance(err.value, CloseloopError) and isinstance(err.value, LookupError)
    with pytest.raises(UseCaseError, match="unknown use case 'mnist'"):
        use_case_class("mnist")


def test_a_registry_entry_must_point_at_a_use_case_of_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(USE_CASES, "other", "training.usecases.digits:DigitsUseCase")
    monkeypatch.setitem(USE_CASES, "not_one", "training.usecases.digits:FEATURES")
    with pytest.raises(UseCaseError, match="'other' points at use case 'digits'"):
        use_case_class("other")
    with pytest.raises(UseCaseError, match="not a UseCase"):
        use_case_class("not_one")


@pytest.mark.parametrize("name", ["digits", "ocr", "speech", "shapes"])
def test_a_use_case_with_a_demo_drifts_by_each_kind_it_declares(name: str) -> None:
    use_case = get_use_case(name)
    assert use_case.recovery_threshold is not None
    rows = use_case.base_data().test.head(20)
    for kind in use_case.drift_kinds:
        drifted = use_case.drift(rows, kind, 1.0, seed=1)
        assert list(drifted.columns) == list(rows.columns) and drifted["target"].equals(rows["target"])
        assert not drifted[use_case.features()].equals(rows[use_case.features()]), kind
        pd.testing.assert_frame_equal(drifted, use_case.drift(rows, kind, 1.0, seed=1))
    with pytest.raises(ValueError, match="unknown drift kind 'rain'"):
        use_case.drift(rows, "rain")


def test_a_use_case_without_drifts_says_so() -> None:
    use_case = get_use_case("diabetes")
    assert use_case.drift_kinds == ()
    with pytest.raises(ValueError, match="diabetes use case has no drift kinds"):
        use_case.drift(use_case.base_data().test, "noise")


def test_the_digits_use_case_declares_the_drift_module_s_kinds() -> None:
    from training.usecases.digits.drift import DRIFT_KINDS

    assert tuple(get_use_case("digits").drift_kinds) == DRIFT_KINDS


@pytest.mark.parametrize(("higher_is_better", "better", "worse"), [(True, 0.9, 0.8), (False, 0.04, 0.2)])
def test_meets_follows_the_direction_of_the_primary_metric(
    higher_is_better: bool, better: float, worse: float
) -> None:
    use_case = get_use_case("digits" if higher_is_better else "ocr")
    threshold = (better + worse) / 2
    assert use_case.meets(better, threshold) and use_case.meets(threshold, threshold)
    assert not use_case.meets(worse, threshold)
