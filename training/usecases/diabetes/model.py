"""The diabetes model: a standardised ridge regression, and its default hyper-parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from training.usecases.base import TARGET
from training.usecases.diabetes.data import FEATURES

__all__ = ["DEFAULT_PARAMS", "fit"]

DEFAULT_PARAMS: Mapping[str, Any] = {"alpha": 1.0}


def fit(frame: pd.DataFrame, params: Mapping[str, Any]) -> Any:
    """A pipeline (scaler, regressor) fitted on ``frame``; ``params`` holds every key of DEFAULT_PARAMS."""
    # Imported here, not at module level: DAG files read the use case's attributes as Airflow parses them.
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model = Pipeline([("scale", StandardScaler()), ("regress", Ridge(alpha=float(params["alpha"])))])
    return model.fit(frame[FEATURES].astype(np.float64), frame[TARGET].to_numpy(dtype=np.float64))
