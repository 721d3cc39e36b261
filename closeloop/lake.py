"""The feedback lake: labeled examples the streaming job writes as Parquet, read with pyarrow.

Layout: ``s3://{lake_bucket}/{lake_prefix}/model_name=<m>/dt=<yyyy-mm-dd>/part-….parquet``.
Files appear when a checkpoint completes (exactly once); files still being
written are hidden (a leading dot) and pyarrow skips them.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as ds
from pyarrow import fs

from closeloop.config import Settings

__all__ = ["lake_dataset", "lake_filesystem", "read_labeled"]


def lake_filesystem(settings: Settings) -> fs.S3FileSystem:
    endpoint = urlparse(settings.s3_endpoint)
    return fs.S3FileSystem(
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        endpoint_override=endpoint.netloc,
        scheme=endpoint.scheme or "http",
        region="us-east-1",
    )


def lake_dataset(settings: Settings, prefix: str | None = None) -> ds.Dataset:
    path = f"{settings.lake_bucket}/{(prefix or settings.lake_prefix).strip('/')}"
    return ds.dataset(path, filesystem=lake_filesystem(settings), format="parquet", partitioning="hive")


def read_labeled(settings: Settings, *, model_name: str | None = None, prefix: str | None = None) -> pa.Table:
    """Every labeled example in the lake (of one model, if given); empty if there is none yet."""
    try:
        dataset = lake_dataset(settings, prefix)
    except (FileNotFoundError, OSError):
        return pa.table({})
    condition = ds.field("model_name") == model_name if model_name else None
    return dataset.to_table(filter=condition)
