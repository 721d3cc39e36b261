"""The S3 store (MinIO locally) and its feedback lake, through a connection: for sensors and triggers.

Credentials and the endpoint live in the connection, not in closeloop's
settings: a trigger carries the connection id, and the triggerer resolves
it from its own secrets backend (``AIRFLOW_CONN_CLOSELOOP_LAKE`` locally).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from airflow.sdk import BaseHook

if TYPE_CHECKING:  # pyarrow and minio are imported where they are used: the DAG files stay light
    from minio import Minio
    from pyarrow import fs

    from closeloop.lake import Lake

__all__ = ["LakeHook", "LakeStore"]

#: The lake's place in its bucket when the connection names none (Settings.lake_prefix's default).
_DEFAULT_PREFIX = "feedback"


class LakeStore(NamedTuple):
    """A lake connection, read: the store's URL and keys, the lake's bucket (if named) and prefix,
    and the whole extra (the other buckets, say)."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str | None
    prefix: str
    extra: dict[str, Any]


class LakeHook(BaseHook):
    """Clients of the S3 store that holds closeloop's lake.

    The connection (``closeloop_lake`` by default, of type ``aws``) holds the
    access key as login, the secret key as password, and in its extra the
    store's ``endpoint_url`` (or the URL as host), the lake's ``bucket`` and,
    optionally, the ``prefix`` the lake lives under in it (default ``feedback``)
    and the store's other buckets, ``reports_bucket`` and ``artifacts_bucket``
    (read by closeloop_airflow.hooks.connection_settings for the DAGs' tasks).
    """

    conn_name_attr = "lake_conn_id"
    default_conn_name = "closeloop_lake"
    conn_type = "aws"
    hook_name = "closeloop lake (S3)"

    def __init__(self, lake_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.lake_conn_id = lake_conn_id

    def get_store(self) -> LakeStore:
        """What the connection says, checked: the store's URL and keys, the lake's bucket and prefix."""
        conn = self.get_connection(self.lake_conn_id)
        extra = conn.extra_dejson
        endpoint = extra.get("endpoint_url") or conn.host or ""
        if "://" not in endpoint or not conn.login or not conn.password:
            raise ValueError(
                f"connection {self.lake_conn_id!r} needs the store's URL (extra endpoint_url, "
                "http(s)://host:port), the access key as login and the secret key as password"
            )
        return LakeStore(
            endpoint=endpoint,
            access_key=conn.login,
            secret_key=conn.password,
            bucket=str(extra["bucket"]) if extra.get("bucket") else None,
            prefix=str(extra.get("prefix") or _DEFAULT_PREFIX),
            extra=extra,
        )

    @property
    def bucket(self) -> str:
        """The lake's bucket, from the connection's extra."""
        return self._bucket(self.get_store())

    def _bucket(self, store: LakeStore) -> str:
        if not store.bucket:
            raise ValueError(f"connection {self.lake_conn_id!r} names no bucket in its extra")
        return store.bucket

    def get_conn(self) -> Minio:
        """A client of the store (buckets and objects)."""
        from closeloop.s3 import minio_client

        store = self.get_store()
        return minio_client(store.endpoint, store.access_key, store.secret_key)

    def get_filesystem(self) -> fs.S3FileSystem:
        """The store as pyarrow reads it."""
        from closeloop.s3 import s3_filesystem

        store = self.get_store()
        return s3_filesystem(store.endpoint, store.access_key, store.secret_key)

    def get_lake(self, prefix: str | None = None) -> Lake:
        """The lake: the connection's bucket, under ``prefix`` (default: the connection's, else feedback)."""
        from closeloop.lake import Lake
        from closeloop.s3 import s3_filesystem

        store = self.get_store()
        return Lake(
            s3_filesystem(store.endpoint, store.access_key, store.secret_key),
            self._bucket(store),
            prefix or store.prefix,
        )
