"""The feedback lake: labeled examples the streaming job writes as Parquet, read with pyarrow.

Layout: ``s3://{lake_bucket}/{lake_prefix}/model_name=<m>/dt=<yyyy-mm-dd>/part-….parquet``.
Files appear when a checkpoint completes (exactly once); files still being
written are hidden (a leading dot) and pyarrow skips them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from closeloop.config import Settings
from closeloop.s3 import arrow_filesystem

__all__ = ["count_labeled", "lake_dataset", "read_labeled"]


def lake_dataset(settings: Settings, prefix: str | None = None) -> ds.Dataset:
    path = f"{settings.lake_bucket}/{(prefix or settings.lake_prefix).strip('/')}"
    return ds.dataset(path, filesystem=arrow_filesystem(settings), format="parquet", partitioning="hive")


def _condition(model_name: str | None, since: datetime | None) -> ds.Expression | None:
    conditions = []
    if model_name:
        conditions.append(ds.field("model_name") == model_name)
    if since is not None:
        # The lake's times are UTC without a zone.
        since = since.astimezone(UTC) if since.tzinfo else since
        # dt first: it prunes whole partitions before any file is opened.
        conditions.append(ds.field("dt") >= f"{since:%Y-%m-%d}")
        conditions.append(
            ds.field("feedback_ts") >= pa.scalar(since.replace(tzinfo=None), pa.timestamp("ms"))
        )
    if not conditions:
        return None
    condition = conditions[0]
    for more in conditions[1:]:
        condition &= more
    return condition


def read_labeled(
    settings: Settings,
    *,
    model_name: str | None = None,
    prefix: str | None = None,
    since: datetime | None = None,
) -> pa.Table:
    """Every labeled example in the lake (of one model, with feedback since ``since`` (UTC), if given);
    empty if there is none yet."""
    try:
        dataset = lake_dataset(settings, prefix)
    except (FileNotFoundError, OSError):
        return pa.table({})
    return dataset.to_table(filter=_condition(model_name, since))


def count_labeled(
    settings: Settings, *, model_name: str, since: datetime | None = None, prefix: str | None = None
) -> int:
    """How many labeled examples of ``model_name`` the lake holds with feedback since ``since`` (UTC).

    Distinct predictions: two jobs writing the same lake (the demo's beside
    the stack's) must not count one example twice.
    """
    try:
        dataset = lake_dataset(settings, prefix)
    except (FileNotFoundError, OSError):
        return 0
    ids = dataset.to_table(columns=["prediction_id"], filter=_condition(model_name, since))["prediction_id"]
    return pc.count_distinct(ids).as_py()
