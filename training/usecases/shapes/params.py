"""The shapes model's training hyper-parameters, apart from the model: naming them must not import
scikit-learn or scipy (every DAG file and task start imports the use cases)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_PARAMS", "MIN_AREAS", "THRESHOLDS"]

#: The ink thresholds (grey levels below the local paper, in [0, 1] units) a fit tries; roughly
#: geometric, so that the middle of a working range is as far, in ratio, from both its ends.
THRESHOLDS = (0.015, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 0.14, 0.2, 0.28, 0.35, 0.42, 0.5)
#: The smallest components, in pixels, a fit tries to keep as candidate objects.
MIN_AREAS = (1, 4, 9, 16, 25, 36)
#: Trained on the base scenes, these find the base test set at precision and recall 1.00 (threshold 0.1).
DEFAULT_PARAMS: Mapping[str, Any] = {
    "C": 1.0,
    "max_iter": 500,
    "thresholds": THRESHOLDS,
    "min_areas": MIN_AREAS,
}
