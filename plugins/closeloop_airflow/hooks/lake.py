"""The S3 store (MinIO locally) and its feedback lake, through a connection: for sensors and triggers.

Credentials and the endpoint live in the connection, not in closeloop's
settings: a trigger carries the connection id, and the triggerer resolves
it from its own secrets backend (``AIRFLOW_CONN_CLOSELOOP_LAKE`` locally).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:  # pyarrow and minio are imported where they are used: the DAG files stay light
    from minio import Minio
    from pyarrow import fs

    from closeloop.lake import Lake

__all__ = ["LakeHook"]

#: The lake's place in its bucket when the connection names none (Settings.lake_prefix's default).
_DEFAULT_PREFIX = "feedback"


class LakeHook(BaseHook):
    """Clients of the S3 store that holds closeloop's lake.

    The connection (``closeloop_lake`` by default, of type ``aws``) holds the
    access key as login, the secret key as password, and in its extra the
    store's ``endpoint_url`` (or the URL as host), the lake's ``bucket`` and,
    optionally, the ``prefix`` the lake lives under in it (default ``feedback``).
    """

    conn_name_attr = "lake_conn_id"
    default_conn_name = "closeloop_lake"
    conn_type = "aws"
    hook_name = "closeloop lake (S3)"

    def __init__(self, lake_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.lake_conn_id = lake_conn_id

    def _store(self) -> tuple[str, str, str, dict[str, Any]]:
        """The endpoint, access key, secret key and extra of the connection, checked."""
        conn = self.get_connection(self.lake_conn_id)
        extra = conn.extra_dejson
        endpoint = extra.get("endpoint_url") or conn.host or ""
        if "://" not in endpoint or not conn.login or not conn.password:
            raise ValueError(
                f"connection {self.lake_conn_id!r} needs the store's URL (extra endpoint_url, "
                "http(s)://host:port), the access key as login and the secret key as password"
            )
        return endpoint, conn.login, conn.password, extra

    @property
    def bucket(self) -> str:
        """The lake's bucket, from the connection's extra."""
        return self._bucket(self._store()[3])

    def _bucket(self, extra: dict[str, Any]) -> str:
        if not extra.get("bucket"):
            raise ValueError(f"connection {self.lake_conn_id!r} names no bucket in its extra")
        return str(extra["bucket"])

    def get_conn(self) -> Minio:
        """A client of the store (buckets and objects)."""
        from closeloop.s3 import minio_client

        endpoint, access_key, secret_key, _ = self._store()
        return minio_client(endpoint, access_key, secret_key)

    def get_filesystem(self) -> fs.S3FileSystem:
        """The store as pyarrow reads it."""
        from closeloop.s3 import s3_filesystem

        endpoint, access_key, secret_key, _ = self._store()
        return s3_filesystem(endpoint, access_key, secret_key)

    def get_lake(self, prefix: str | None = None) -> Lake:
        """The lake: the connection's bucket, under ``prefix`` (default: the connection's, else feedback)."""
        from closeloop.lake import Lake
        from closeloop.s3 import s3_filesystem

        endpoint, access_key, secret_key, extra = self._store()
        return Lake(
            s3_filesystem(endpoint, access_key, secret_key),
            self._bucket(extra),
            prefix or extra.get("prefix") or _DEFAULT_PREFIX,
        )
