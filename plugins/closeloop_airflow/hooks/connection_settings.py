"""closeloop's settings for a DAG task, with where the services are taken from Airflow connections.

``training/`` takes a ``Settings``; a task builds it here from the lake's and
MLflow's connections instead of the worker's ``CLOSELOOP_*`` endpoints, so a
deployment configures Airflow's side the way it configures any provider:
through connection ids. What is not about reaching a service (thresholds,
the retraining policy, topic names) still comes from the configuration.
"""

from __future__ import annotations

from typing import Any

from closeloop.config import Settings
from closeloop_airflow.hooks.lake import LakeHook
from closeloop_airflow.hooks.mlflow_tracking import MlflowHook

__all__ = ["settings_from_connections"]

#: Buckets of the store besides the lake's that a lake connection may name in its extra.
_OTHER_BUCKETS = ("reports_bucket", "artifacts_bucket")


def settings_from_connections(
    lake_conn_id: str | None = LakeHook.default_conn_name,
    mlflow_conn_id: str | None = MlflowHook.default_conn_name,
) -> Settings:
    """``Settings.load()`` with the S3 store and MLflow's tracking URI from these connections.

    From the lake connection (LakeHook): the store's endpoint and keys, the
    lake's bucket and prefix, and the reports and artifacts buckets if its
    extra names them (else the configuration's, ``CLOSELOOP_REPORTS_BUCKET``…).
    From the MLflow connection (MlflowHook): the tracking URI. A connection id
    of None leaves those settings to the configuration. Raises ValueError
    naming the connection if one lacks what it must hold.
    """
    values: dict[str, Any] = {}
    if lake_conn_id is not None:
        values |= _lake_settings(LakeHook(lake_conn_id=lake_conn_id))
    if mlflow_conn_id is not None:
        values["mlflow_tracking_uri"] = MlflowHook(mlflow_conn_id=mlflow_conn_id).tracking_uri
    return Settings.load(**values)


def _lake_settings(hook: LakeHook) -> dict[str, Any]:
    store = hook.get_store()
    if not store.bucket:
        raise ValueError(f"connection {hook.lake_conn_id!r} names no bucket in its extra")
    values: dict[str, Any] = {
        "s3_endpoint": store.endpoint,
        "s3_access_key": store.access_key,
        "s3_secret_key": store.secret_key,
        "lake_bucket": store.bucket,
        # The prefix the labeled-data sensor counts under too: both read the same connection.
        "lake_prefix": store.prefix,
    }
    values |= {name: str(store.extra[name]) for name in _OTHER_BUCKETS if store.extra.get(name)}
    return values
