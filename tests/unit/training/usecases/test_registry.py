"""The use-case registry: every entry loads its use case, names agree, unknown names are explained."""

from __future__ import annotations

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


def test_the_registry_lists_both_and_each_entry_loads_its_use_case() -> None:
    assert use_case_names() == ["diabetes", "digits"]
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
        UseCaseError, match=r"unknown use case 'mnist'; known use cases: diabetes, digits$"
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
