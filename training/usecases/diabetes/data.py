"""The diabetes base data: scikit-learn's bundled dataset, ten measurements and the progression score."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.usecases.base import TARGET, BaseData

__all__ = ["FEATURES", "load_base_data"]

#: The dataset's own names: age, sex, body-mass index, blood pressure and six blood serum measurements.
FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]

_TEST_SIZE = 0.25
_SPLIT_SEED = 0


def load_base_data() -> BaseData:
    """The 442 patients, 25% test, the same rows every time."""
    # Imported here, not at module level: DAG files read the use case's attributes as Airflow parses them.
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    diabetes = load_diabetes()
    if list(diabetes.feature_names) != FEATURES:  # the schema is a contract with the gateway's clients
        raise RuntimeError(f"scikit-learn's diabetes features changed: {diabetes.feature_names}")
    frame = pd.DataFrame(diabetes.data.astype(np.float64), columns=FEATURES)
    frame[TARGET] = diabetes.target.astype(np.float64)
    train, test = train_test_split(frame, test_size=_TEST_SIZE, random_state=_SPLIT_SEED)
    return BaseData(train=train.reset_index(drop=True), test=test.reset_index(drop=True))
