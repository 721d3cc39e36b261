"""Train a use case's challenger and register it in MLflow, with everything needed to trust it later.

One MLflow run per training: params (the hyper-parameters, the data window,
the dataset snapshot and its row counts), metrics on the base test set and on
the recent holdout, the model with its signature, input example and explicit
pip requirements (inferring them costs about 8 s a model), and the reference
profile (of the newest feedback, what the version will serve, when there is
enough), which is also written to the lake where the streaming job reads it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from typing import Any

import mlflow
import pandas as pd
from minio import Minio
from mlflow import MlflowClient
from mlflow.models import infer_signature

from closeloop.config import Settings
from closeloop.gateway.champions import TASK_TAG
from closeloop.monitoring.profiles import save_profile
from closeloop.s3 import s3_client
from training import import_skops
from training.dataset import Dataset, DatasetSnapshot, build_dataset
from training.usecases import UseCase

__all__ = [
    "DATASET_TAG",
    "PROFILE_SOURCE_TAG",
    "PROFILE_TAG",
    "REASON_TAG",
    "TRAINED_BY_TAG",
    "TrainedVersion",
    "model_requirements",
    "registered_by",
    "serving_frame",
    "train_and_register",
    "train_on_base_data",
    "trusted_types",
]

_log = logging.getLogger(__name__)

#: Version tags: where its reference profile and its training data are, and why it was trained.
PROFILE_TAG = "closeloop.reference_profile"
#: What the reference profile describes: the newest feedback or the training data.
PROFILE_SOURCE_TAG = "closeloop.reference_profile_source"
DATASET_TAG = "closeloop.dataset"
REASON_TAG = "closeloop.reason"
#: Run and version tag naming the task that trained it (an Airflow dag/run id): a retry of that task,
#: after a crash, finds the version instead of registering a second one. On the version it is set
#: last, so it also says the version is complete.
TRAINED_BY_TAG = "closeloop.trained_by"


@dataclass(frozen=True)
class TrainedVersion:
    model_name: str
    version: str
    run_id: str
    profile_uri: str
    metrics: dict[str, float]
    timings_s: dict[str, float] = field(default_factory=dict)


def model_requirements() -> list[str]:
    """What serving a scikit-learn model needs, pinned to this environment's versions."""
    return [f"{name}=={package_version(name)}" for name in ("scikit-learn", "numpy", "pandas", "scipy")]


def trusted_types(model: Any) -> list[str]:
    """The model's own class, when it is not scikit-learn's: MLflow saves scikit-learn models with
    skops, which loads only the types it trusts (scikit-learn's and numpy's, and those named here)."""
    kind = type(model)
    return [] if kind.__module__.startswith("sklearn.") else [f"{kind.__module__}.{kind.__qualname__}"]


def _scored(prefix: str, scores: Mapping[str, float]) -> dict[str, float]:
    return {f"{prefix}_{name}": value for name, value in scores.items()}


def serving_frame(dataset: Dataset, min_recent_rows: int) -> tuple[pd.DataFrame, str]:
    """The rows a new version's reference profile describes, and what they are.

    Drift is measured against the profile, so it must describe what the
    version will serve. After an alert that is the drifted traffic it was
    retrained for: the newest feedback, once there is enough of it. Profiled
    on its training data instead (mostly the base data) a version retrained
    for a drift would keep raising the same drift alert. The newest feedback
    is the gate's holdout, topped up with the newest feedback it trained on
    (the last rows of ``train``): after an alert the holdout is a share of
    the changed data alone, often fewer rows than ``min_recent_rows``.
    """
    holdout = dataset.holdout[list(dataset.train.columns)] if len(dataset.holdout) else dataset.holdout
    trained_on = min(dataset.counts.get("feedback_train", 0), max(0, min_recent_rows - len(holdout)))
    recent = holdout
    if trained_on:
        recent = pd.concat([dataset.train.tail(trained_on), holdout], ignore_index=True)
    if len(recent) >= min_recent_rows:
        return recent, f"the newest feedback ({len(recent)} rows)"
    return dataset.train, f"the training data ({len(dataset.train)} rows)"


def train_and_register(
    use_case: UseCase,
    dataset: Dataset,
    snapshot: DatasetSnapshot | None,
    *,
    tracking_uri: str,
    s3: Minio,
    profiles_bucket: str,
    profiles_prefix: str,
    params: Mapping[str, Any] | None = None,
    reason: str = "manual",
    run_tags: Mapping[str, str] | None = None,
    profile_min_recent_rows: int = 200,
    trained_by: str | None = None,
) -> TrainedVersion:
    """Train on ``dataset.train``, evaluate, log and register a new version of the use case's model.

    Its reference profile describes ``serving_frame``: the newest feedback once
    there are ``profile_min_recent_rows`` of it. With ``trained_by`` (the task
    that trains), a version that an earlier attempt of the same task completed
    is returned as it is, so a retried task registers one version, not two.
    """
    params = {**use_case.default_params(), **(params or {})}
    features = use_case.features()
    client = MlflowClient(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(use_case.model_name)
    if trained_by is not None:
        if (earlier := registered_by(client, use_case.model_name, trained_by)) is not None:
            _log.info("version %s was trained by %s already", earlier.version, trained_by)
            return earlier
        run_tags = {**(run_tags or {}), TRAINED_BY_TAG: trained_by}
    timings: dict[str, float] = {}
    with mlflow.start_run(tags={REASON_TAG: reason, **(run_tags or {})}) as run:
        mlflow.log_params({**params, **(snapshot.as_params() if snapshot else {})})
        started = time.perf_counter()
        model = use_case.train(dataset.train, params)
        timings["fit"] = time.perf_counter() - started

        started = time.perf_counter()
        metrics = _scored("test", use_case.evaluate(model, dataset.test))
        if len(dataset.holdout):
            metrics |= _scored("holdout", use_case.evaluate(model, dataset.holdout))
        mlflow.log_metrics(metrics)
        timings["evaluate"] = time.perf_counter() - started

        started = time.perf_counter()
        import_skops()
        example = dataset.train[features].head(2)
        signature = infer_signature(example, use_case.predict(model, example))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=example,
            pip_requirements=model_requirements(),
            registered_model_name=use_case.model_name,
            skops_trusted_types=trusted_types(model),
        )
        version = str(info.registered_model_version)
        timings["log_model"] = time.perf_counter() - started

        started = time.perf_counter()
        served, source = serving_frame(dataset, profile_min_recent_rows)
        profile = use_case.reference_profile(model, served, version)
        profile_uri = save_profile(s3, profiles_bucket, profiles_prefix, profile)
        mlflow.log_dict(profile.model_dump(mode="json"), "reference_profile.json")
        mlflow.set_tags({PROFILE_TAG: profile_uri, PROFILE_SOURCE_TAG: source})
        timings["profile"] = time.perf_counter() - started

    tags = {TASK_TAG: use_case.task, PROFILE_TAG: profile_uri, PROFILE_SOURCE_TAG: source, REASON_TAG: reason}
    if snapshot is not None:
        tags[DATASET_TAG] = snapshot.uri
    if trained_by is not None:
        tags[TRAINED_BY_TAG] = trained_by  # last: the version is complete
    for key, value in tags.items():
        client.set_model_version_tag(use_case.model_name, version, key, value)
    _log.info(
        "registered %s version %s (run %s): %s; seconds: %s",
        use_case.model_name,
        version,
        run.info.run_id,
        ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()),
        ", ".join(f"{k} {v:.1f}" for k, v in timings.items()),
    )
    return TrainedVersion(
        model_name=use_case.model_name,
        version=version,
        run_id=run.info.run_id,
        profile_uri=profile_uri,
        metrics=metrics,
        timings_s=timings,
    )


def train_on_base_data(
    use_case: UseCase, settings: Settings, *, reason: str, trained_by: str | None = None
) -> TrainedVersion:
    """A version of the use case's model trained on its base data alone, as the first retrain makes
    it, registered in the MLflow of ``settings`` with its profile in their lake bucket."""
    return train_and_register(
        use_case,
        build_dataset(use_case, pd.DataFrame()),
        None,
        tracking_uri=settings.mlflow_tracking_uri,
        s3=s3_client(settings),
        profiles_bucket=settings.lake_bucket,
        profiles_prefix=settings.profiles_prefix,
        reason=reason,
        trained_by=trained_by,
    )


def registered_by(client: MlflowClient, model_name: str, trained_by: str) -> TrainedVersion | None:
    """The complete version that ``trained_by`` registered, if any.

    Runs of ``trained_by`` that an attempt left behind unfinished (killed with
    its task) are marked killed, and a version they registered without its
    tags is deleted: no profile, never gated, it would only be noise.
    """
    experiment = client.get_experiment_by_name(model_name)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{TRAINED_BY_TAG}` = '{trained_by}'"
    )
    found: TrainedVersion | None = None
    for run in runs:
        for version in client.search_model_versions(f"name='{model_name}' and run_id='{run.info.run_id}'"):
            if version.tags.get(TRAINED_BY_TAG) == trained_by and found is None:
                found = TrainedVersion(
                    model_name=model_name,
                    version=str(version.version),
                    run_id=run.info.run_id,
                    profile_uri=version.tags[PROFILE_TAG],
                    metrics=dict(run.data.metrics),
                )
            elif version.tags.get(TRAINED_BY_TAG) != trained_by:
                _log.warning("deleting version %s: %s left it incomplete", version.version, trained_by)
                client.delete_model_version(model_name, version.version)
        if run.info.status == "RUNNING" and found is None:
            client.set_terminated(run.info.run_id, status="KILLED")
    return found
