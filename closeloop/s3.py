"""The S3 store (MinIO locally): one client factory and idempotent bucket creation."""

from __future__ import annotations

from urllib.parse import urlparse

from minio import Minio

from closeloop.config import Settings

__all__ = ["ensure_buckets", "s3_client"]


def s3_client(settings: Settings) -> Minio:
    endpoint = urlparse(settings.s3_endpoint)
    return Minio(
        endpoint.netloc,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=endpoint.scheme == "https",
    )


def ensure_buckets(client: Minio, names: list[str]) -> list[str]:
    """Create the buckets that do not exist yet; returns the names it created."""
    created = []
    for name in names:
        if not client.bucket_exists(name):
            client.make_bucket(name)
            created.append(name)
    return created
