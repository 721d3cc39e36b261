"""Small real models registered in the real MLflow, for the gateway's tests."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from closeloop.errors import InputError
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


class _Halving(mlflow.pyfunc.PythonModel):
    """A pyfunc-only model: half of `x`, and a failure for a negative `x`."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        if (model_input["x"] < 0).any():
            raise ValueError("x must not be negative")
        return (model_input["x"] / 2).tolist()


class _Gated(mlflow.pyfunc.PythonModel):
    """A pyfunc model whose loading fails until a file exists: an artifact that cannot load (yet)."""

    def load_context(self, context):  # type: ignore[no-untyped-def]
        gate = Path(context.model_config["gate"])
        if not gate.exists():
            raise RuntimeError(f"weights unreadable: {gate} does not exist")

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return (model_input["x"] * 3).tolist()


def register_halving(tracking_uri: str, name: str, *, gate: Path | None = None, alias: bool = True) -> str:
    """A regression model without a raw model to call: served through pyfunc; fails on x < 0.

    With ``gate``, instead a model (x times 3) that cannot be loaded until the file ``gate`` exists.
    """
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(name)
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=_Halving() if gate is None else _Gated(),
            model_config={"gate": str(gate)} if gate is not None else None,
            registered_model_name=name,
            input_example=pd.DataFrame({"x": [1.0, 4.0]}),
            pip_requirements=["pandas"],
        )
    client = MlflowClient(tracking_uri)
    version = str(info.registered_model_version)
    client.set_model_version_tag(name, version, TASK_TAG, "regression")
    if alias:
        client.set_registered_model_alias(name, "champion", version)
    return version


class TextLengths:
    """A raw-input model: the length of a text, and two numbers about each text to watch for drift.

    A plain object with scikit-learn's ``predict``, logged with MLflow's sklearn
    flavour as closeloop's raw-input use cases are; ``monitor`` gives each
    prediction its features; an empty text is the input's fault (InputError).
    """

    def predict(self, frame: pd.DataFrame) -> list[float]:
        for index, text in enumerate(frame["text"]):
            if not text:
                raise InputError(f"{index}.text", "must not be empty")
        return [float(len(text)) for text in frame["text"]]

    def monitor(self, frame: pd.DataFrame) -> pd.DataFrame:
        texts = frame["text"]
        return pd.DataFrame(
            {"words": [len(t.split()) for t in texts], "upper": [sum(map(str.isupper, t)) for t in texts]}
        )


def register_text_lengths(tracking_uri: str, name: str) -> str:
    """A TextLengths model (regression on a string input), its champion alias set."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(name)
    example = pd.DataFrame({"text": ["a b", "ABC"]})
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            TextLengths(),
            name="model",
            # MLflow saves scikit-learn models with skops, which loads only the types it is told to.
            skops_trusted_types=[f"{TextLengths.__module__}.{TextLengths.__name__}"],
            registered_model_name=name,
            input_example=example,
            pip_requirements=["pandas"],
        )
    client = MlflowClient(tracking_uri)
    version = str(info.registered_model_version)
    client.set_model_version_tag(name, version, TASK_TAG, "regression")
    client.set_registered_model_alias(name, "champion", version)
    return version
