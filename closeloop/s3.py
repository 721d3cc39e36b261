"""The S3 store (MinIO locally): the one place its clients are built, and idempotent bucket creation."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from minio import Minio

from closeloop.config import Settings

if TYPE_CHECKING:  # pyarrow is imported where it is used: the Flink job's environment pins its own
    from pyarrow import fs

__all__ = ["arrow_filesystem", "ensure_buckets", "minio_client", "read_object", "s3_client", "s3_filesystem"]


def minio_client(endpoint: str, access_key: str, secret_key: str, *, timeout_s: float | None = None) -> Minio:
    """A client of the store at ``endpoint`` (``http://host:port``), for code that has no Settings
    (a function shipped to the Flink job).

    ``timeout_s``: give up on a call after about that long, for a caller that answers a request
    (minio's default retries a store that is away for minutes)."""
    url = urlparse(endpoint)
    http_client = None
    if timeout_s is not None:
        import urllib3

        http_client = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(2.0, timeout_s), read=timeout_s),
            retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
    return Minio(
        url.netloc,
        access_key=access_key,
        secret_key=secret_key,
        secure=url.scheme == "https",
        http_client=http_client,
    )


def s3_client(settings: Settings, *, timeout_s: float | None = None) -> Minio:
    return minio_client(
        settings.s3_endpoint,
        settings.s3_access_key,
        settings.s3_secret_key.get_secret_value(),
        timeout_s=timeout_s,
    )


def s3_filesystem(endpoint: str, access_key: str, secret_key: str) -> fs.S3FileSystem:
    """The store at ``endpoint`` as pyarrow reads it, for code that has no Settings (an Airflow hook)."""
    from pyarrow import fs

    url = urlparse(endpoint)
    return fs.S3FileSystem(
        access_key=access_key,
        secret_key=secret_key,
        endpoint_override=url.netloc,
        scheme=url.scheme or "http",
        region="us-east-1",
    )


def arrow_filesystem(settings: Settings) -> fs.S3FileSystem:
    """The store as pyarrow reads it: the lake's Parquet datasets."""
    return s3_filesystem(
        settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key.get_secret_value()
    )


def ensure_buckets(client: Minio, names: list[str]) -> list[str]:
    """Create the buckets that do not exist yet; returns the names it created."""
    created = []
    for name in names:
        if not client.bucket_exists(name):
            client.make_bucket(name)
            created.append(name)
    return created


def read_object(client: Minio, bucket: str, key: str) -> bytes:
    """The whole object, its connection handed back to the pool however the read ends."""
    response = client.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()
