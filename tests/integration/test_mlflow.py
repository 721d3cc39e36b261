"""Log, register and load back a model through the real MLflow server, artifacts in MinIO."""

from __future__ import annotations

import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from closeloop.config import Settings
from closeloop.s3 import s3_client
from closeloop.stack.manager import LocalStack


def test_register_and_load_by_alias(stack: LocalStack, settings: Settings, unique_name: str) -> None:
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = MlflowClient(settings.mlflow_tracking_uri)
    digits = load_digits()
    model = LogisticRegression(max_iter=200).fit(digits.data[:500], digits.target[:500])

    mlflow.set_experiment(unique_name)
    try:
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name=unique_name,
                input_example=digits.data[:2],
                # Explicit requirements: inferring them costs seconds per model.
                pip_requirements=["scikit-learn"],
            )
        version = info.registered_model_version
        client.set_registered_model_alias(unique_name, "champion", version)

        assert client.get_model_version_by_alias(unique_name, "champion").version == str(version)
        loaded = mlflow.pyfunc.load_model(f"models:/{unique_name}@champion")
        sample = digits.data[1000:1100]
        np.testing.assert_array_equal(loaded.predict(sample), model.predict(sample))

        # The server proxies artifacts into MinIO: the model files are in the bucket.
        objects = s3_client(settings).list_objects(
            settings.artifacts_bucket, prefix="mlflow/", recursive=True
        )
        keys = [o.object_name for o in objects]
        assert any(k.endswith(f"models/{info.model_id}/artifacts/MLmodel") for k in keys), keys[:10]
    finally:
        client.delete_registered_model(unique_name)
