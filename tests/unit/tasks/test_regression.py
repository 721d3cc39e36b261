"""Regression metrics against scikit-learn on fixed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error

from closeloop.tasks import TaskError, get_task


@pytest.mark.parametrize(
    ("outputs", "truths"),
    [
        ([1.0, 2.0, 3.0], [1.5, 2.0, 2.0]),
        ([0, 0, 0, 10], [1, -1, 0, 0]),
        ([151.2], [140.0]),
        (
            np.random.default_rng(3).normal(size=1000).tolist(),
            np.random.default_rng(4).normal(size=1000).tolist(),
        ),
    ],
)
def test_matches_scikit_learn(outputs: list[float], truths: list[float]) -> None:
    metrics = get_task("regression").metrics(outputs, truths)
    assert metrics["mae"] == pytest.approx(mean_absolute_error(truths, outputs), abs=1e-12)
    assert metrics["rmse"] == pytest.approx(math.sqrt(mean_squared_error(truths, outputs)), abs=1e-12)


def test_rejects_what_is_not_a_finite_number() -> None:
    task = get_task("regression")
    for bad in (float("nan"), float("inf"), "high", None):
        with pytest.raises(TaskError, match="a finite number"):
            task.validate_output(bad)
    assert task.validate_output(3) == 3
