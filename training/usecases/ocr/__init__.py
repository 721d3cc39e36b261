"""OCR of printed text lines: a PNG image of a short line (words, numbers, codes) to its text.

The lines are made here (``data``): texts from a seeded generator printed with
the DejaVu fonts matplotlib ships; nothing is downloaded. The model
(``model``) cuts a line into glyphs where the ink stops and reads each with a
logistic regression: it trains in seconds and reads clean lines almost
perfectly, until the scans blur or the font changes (``drift``). Drift is
watched on numbers computed from each image (``monitoring``), not on its pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from closeloop.media.normalize import ImageSpec
from training.usecases.base import BaseData, UseCase
from training.usecases.ocr.data import FEATURES, load_base_data
from training.usecases.ocr.drift import drift_frame
from training.usecases.ocr.image import MAX_PNG_BYTES
from training.usecases.ocr.monitoring import MONITORING, monitoring_frame
from training.usecases.ocr.params import DEFAULT_PARAMS

__all__ = ["OcrUseCase"]


class OcrUseCase(UseCase):
    name = "ocr"
    task = "ocr"
    model_name = "closeloop-ocr"
    description = "OCR of printed text lines: a PNG image (base64, image_png) to the line's text."
    primary_metric = "cer"
    higher_is_better = False
    categorical_output = True
    profile_output = False
    feature_names = FEATURES
    raw_inputs = True
    raw_spec = ImageSpec(feature=FEATURES[0], max_bytes=MAX_PNG_BYTES)
    monitoring_names = MONITORING
    param_defaults = DEFAULT_PARAMS
    drift_kinds = ("blur", "font")
    #: Twice the clean target (CER 0.05): the issue's bar for a retrain on drifted feedback.
    recovery_threshold = 0.1

    def base_data(self) -> BaseData:
        """1,500 training and 400 test lines, the same every time."""
        return load_base_data()

    def train(self, frame: pd.DataFrame, params: Mapping[str, Any]) -> Any:
        from training.usecases.ocr.model import fit  # scikit-learn: not when a DAG file is parsed

        return fit(frame, self.merged_params(params))

    def monitoring(self, frame: pd.DataFrame) -> pd.DataFrame:
        return monitoring_frame(frame[FEATURES[0]])

    def drift(self, frame: pd.DataFrame, kind: str, severity: float = 1.0, seed: int = 0) -> pd.DataFrame:
        return drift_frame(frame, kind, severity, seed)
