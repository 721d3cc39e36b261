"""Regression: one number per input; mean absolute error and root mean squared error."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import FiniteFloat

from closeloop.tasks.base import Task

__all__ = ["RegressionTask"]


class RegressionTask(Task):
    name = "regression"
    output_type: ClassVar[Any] = FiniteFloat
    output_description = "a finite number"
    metric_names = ("mae", "rmse")

    def _statistics(self, output: Any, truth: Any) -> dict[str, float]:
        error = float(output) - float(truth)
        return {"n": 1.0, "abs_error": abs(error), "squared_error": error * error}

    def _from_statistics(self, totals: Mapping[str, float]) -> dict[str, float]:
        n = totals["n"]
        return {"mae": totals["abs_error"] / n, "rmse": math.sqrt(totals["squared_error"] / n)}
