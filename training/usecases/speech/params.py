"""The speech model's training hyper-parameters, apart from the model: naming them must not import
scikit-learn (every DAG file and task start imports the use cases)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_PARAMS", "THRESHOLDS"]

#: The loudness thresholds a fit tries (a fraction of the way from the noise floor to the peak, in dB),
#: to cut utterances into as many words as their transcripts have.
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6)
#: Trained on the base utterances, these transcribe the base test set without an error.
DEFAULT_PARAMS: Mapping[str, Any] = {"C": 0.1, "max_iter": 500, "thresholds": THRESHOLDS}
