"""Regression: one number per input; mean absolute error and root mean squared error."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import FiniteFloat

from closeloop.tasks.base import Task

__all__ = ["RegressionTask"]


class RegressionTask(Task):
    name = "regression"
    output_type: ClassVar[Any] = FiniteFloat
    output_description = "a finite number"
    metric_names = ("mae", "rmse")

    def _metrics(self, outputs: list[Any], truths: list[Any]) -> dict[str, float]:
        errors = [o - t for o, t in zip(outputs, truths, strict=True)]
        return {
            "mae": math.fsum(abs(e) for e in errors) / len(errors),
            "rmse": math.sqrt(math.fsum(e * e for e in errors) / len(errors)),
        }
