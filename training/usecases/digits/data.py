"""The digits' base data: scikit-learn's bundled 8x8 images as rows of 64 pixel features."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.usecases.base import TARGET, BaseData

__all__ = ["FEATURES", "load_base_data"]

#: Pixel ``8·row + column`` of the image, row 0 at the top. The gateway and its clients use these names.
FEATURES = [f"pixel_{i}" for i in range(64)]

_TEST_SIZE = 0.25
_SPLIT_SEED = 0


def load_base_data() -> BaseData:
    """The 1,797 images, 25% test, stratified by digit, the same rows every time; labels as int64."""
    # Imported here, not at module level: DAG files read the use case's attributes as Airflow parses them.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    frame = pd.DataFrame(digits.data.astype(np.float64), columns=FEATURES)
    frame[TARGET] = digits.target.astype(np.int64)
    train, test = train_test_split(
        frame, test_size=_TEST_SIZE, stratify=frame[TARGET], random_state=_SPLIT_SEED
    )
    return BaseData(train=train.reset_index(drop=True), test=test.reset_index(drop=True))
