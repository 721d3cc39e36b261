"""Handwritten digits: 8x8 greyscale images (64 pixels, 0-16) to the digit 0-9.

scikit-learn's bundled copy of the UCI optical digits (1,797 images, ``data``);
nothing is downloaded. The model is a standardised multinomial logistic
regression (``model``): it trains in well under a second, and it is sensitive
to the drifts of ``drift`` (thicker strokes, tilted scans) until retrained on
drifted examples. ``drift`` is imported when first used: it needs scipy,
which parsing a DAG does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from training.usecases.base import BaseData, UseCase
from training.usecases.digits.data import FEATURES, load_base_data
from training.usecases.digits.model import DEFAULT_PARAMS, fit

__all__ = ["FEATURES", "DigitsUseCase"]


class DigitsUseCase(UseCase):
    name = "digits"
    task = "classification"
    model_name = "closeloop-digits"
    description = (
        "Handwritten-digit recognition: 8x8 greyscale images (pixel_0..pixel_63, 0-16) to the digit 0-9."
    )
    primary_metric = "accuracy"
    higher_is_better = True
    categorical_output = True
    feature_names = FEATURES
    param_defaults = DEFAULT_PARAMS
    drift_kinds = ("thickness", "rotation", "noise", "shift", "contrast")
    recovery_threshold = 0.85

    def base_data(self) -> BaseData:
        """25% test, stratified by digit, the same rows every time."""
        return load_base_data()

    def train(self, frame: pd.DataFrame, params: Mapping[str, Any]) -> Any:
        return fit(frame, self.merged_params(params))

    def drift(self, frame: pd.DataFrame, kind: str, severity: float = 1.0, seed: int = 0) -> pd.DataFrame:
        from training.usecases.digits.drift import drift_frame  # scipy: not when a DAG file is parsed

        return drift_frame(frame, kind, severity, seed)
