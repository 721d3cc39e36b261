"""Small real models registered in the real MLflow, for the gateway's tests."""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow import MlflowClient
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from closeloop.gateway.champions import TASK_TAG

FEATURES = [f"pixel_{i}" for i in range(64)]


def digits_frame() -> tuple[pd.DataFrame, pd.Series]:
    digits = load_digits()
    return pd.DataFrame(digits.data, columns=FEATURES), pd.Series(digits.target)


def register_digits(tracking_uri: str, name: str, *, rows: int = 1000, alias: str | None = "champion") -> str:
    """Train a digits classifier on the first ``rows`` rows, register it, point ``alias`` at it."""
    x, y = digits_frame()
    model = LogisticRegression(max_iter=300).fit(x[:rows], y[:rows])
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(name)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=name,
            input_example=x[:2],
            pip_requirements=["scikit-learn"],
        )
    client = MlflowClient(tracking_uri)
    version = str(info.registered_model_version)
    client.set_model_version_tag(name, version, TASK_TAG, "classification")
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return version
