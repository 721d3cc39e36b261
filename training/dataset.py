"""Training datasets: a use case's base data merged with the labeled feedback in the lake.

Feedback rows come from the lake the streaming job writes (inputs, ground
truth and times per labeled prediction). A rebuild reads the feedback that
arrived within a time range, keeps one row per prediction, and holds out the
most recent share of it: the gate compares challenger and champion on that
holdout, the freshest picture of what the model faces now. The result is
saved to MinIO as a versioned snapshot (Parquet, one file per split, and a
manifest), whose URI the training run logs for lineage.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from minio import Minio

from closeloop.errors import CloseloopError
from closeloop.raw_inputs import RawInputError, is_uri
from training.usecases import TARGET, UseCase

__all__ = [
    "FEEDBACK_COLUMNS",
    "Dataset",
    "DatasetError",
    "DatasetSnapshot",
    "build_dataset",
    "feedback_frame",
    "load_snapshot",
    "save_snapshot",
]

_log = logging.getLogger(__name__)

#: Columns a feedback row keeps beside the features and the target; ``output`` is what was served.
FEEDBACK_COLUMNS = ("prediction_id", "model_version", "output", "feedback_ts")
_SPLITS = ("train", "holdout", "test")


class DatasetError(CloseloopError):
    """A dataset cannot be built or read; says which one and why."""


@dataclass(frozen=True)
class Dataset:
    """The three frames a retrain needs, each with the features and ``TARGET``.

    - ``train``: base train rows plus the older feedback;
    - ``holdout``: the most recent feedback, never trained on;
    - ``test``: the base test set, which guards against regressions.
    """

    train: pd.DataFrame
    holdout: pd.DataFrame
    test: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        return {"train": self.train, "holdout": self.holdout, "test": self.test}


@dataclass(frozen=True)
class DatasetSnapshot:
    """Where a dataset was saved, and what it holds."""

    uri: str
    snapshot_id: str
    counts: dict[str, int]

    def as_params(self) -> dict[str, Any]:
        """For an MLflow run: the URI and every row count."""
        return {"dataset_uri": self.uri, **{f"rows_{name}": n for name, n in self.counts.items()}}


def _decode(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) else None


def feedback_frame(
    rows: pd.DataFrame,
    use_case: UseCase,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    fetch: Callable[[str], str] | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Lake rows as a training frame: features, target and FEEDBACK_COLUMNS, one row per prediction.

    ``rows`` holds the lake's columns (``inputs``, ``output`` and
    ``ground_truth`` as JSON text). Only feedback with ``start <= feedback_ts < end`` is kept. A
    prediction labeled twice (a replay, a second label) keeps its first
    label, as the streaming job scores it. Rows whose inputs lack a feature
    or whose ground truth is missing are dropped and counted.

    A raw input the gateway stored in MinIO (``closeloop.raw_inputs``) is in
    the lake as its URI: ``fetch`` reads it back. Without ``fetch``, or when
    it fails (RawInputError), its row is dropped and counted as ``unfetched``.
    """
    features = use_case.features()
    columns = [*features, TARGET, *FEEDBACK_COLUMNS]
    counts = {
        "feedback_read": len(rows),
        "feedback_outside_window": 0,
        "duplicates": 0,
        "unusable": 0,
        "unfetched": 0,
    }
    if rows.empty:
        return pd.DataFrame(columns=columns), counts
    times = pd.to_datetime(rows["feedback_ts"], utc=True)
    keep = pd.Series(True, index=rows.index)
    if start is not None:
        keep &= times >= pd.Timestamp(start)
    if end is not None:
        keep &= times < pd.Timestamp(end)
    counts["feedback_outside_window"] = int((~keep).sum())
    rows = (
        rows[keep]
        .assign(feedback_ts=times[keep])
        .sort_values(["feedback_ts", "prediction_id"], kind="stable")
    )
    unique = rows.drop_duplicates("prediction_id", keep="first")
    counts["duplicates"] = len(rows) - len(unique)

    records = []
    for row in unique.itertuples(index=False):
        row_inputs, truth = _decode(row.inputs) or {}, _decode(row.ground_truth)
        values = [row_inputs.get(name) for name in features]
        if use_case.raw_inputs and any(map(is_uri, values)):
            try:
                if fetch is None:
                    raise RawInputError("no store to read raw inputs from")
                values = [fetch(v) if is_uri(v) else v for v in values]
            except RawInputError as exc:
                _log.warning("prediction %s: %s", row.prediction_id, exc)
                counts["unfetched"] += 1
                continue
        if truth is None or not use_case.inputs_ok(values):
            counts["unusable"] += 1
            continue
        records.append(
            [*values, truth, row.prediction_id, row.model_version, _decode(row.output), row.feedback_ts]
        )
    frame = pd.DataFrame(records, columns=columns)
    if use_case.raw_inputs:
        return frame, counts
    # JSON gives ints and floats; the model's signature wants one numeric type per feature.
    return frame.astype(dict.fromkeys(features, "float64")), counts


def build_dataset(
    use_case: UseCase,
    lake_rows: pd.DataFrame,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    holdout_fraction: float = 0.3,
    holdout_since: datetime | None = None,
    fetch: Callable[[str], str] | None = None,
) -> Dataset:
    """Base data and windowed feedback, the most recent ``holdout_fraction`` of the feedback held out.

    The feedback that trains keeps one row per example (``_without_repeats``).

    With ``holdout_since`` (when the data changed, for a run an alert
    started), the holdout is that share of the feedback since then: the gate
    judges the changed data, and the rest of it trains the challenger. Of all
    the feedback, the holdout would take most of the changed data and leave
    the challenger little of it to learn from.

    ``fetch`` reads back the raw inputs stored in MinIO (``feedback_frame``).
    """
    if not 0.0 <= holdout_fraction < 1.0:
        raise DatasetError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    base = use_case.base_data()
    feedback, counts = feedback_frame(lake_rows, use_case, start=start, end=end, fetch=fetch)
    recent = feedback
    if holdout_since is not None:
        recent = feedback[feedback["feedback_ts"] >= pd.Timestamp(holdout_since)]
    # Sorted by feedback time: the holdout is the newest rows, never a random sample.
    n_holdout = round(len(recent) * holdout_fraction)
    older, holdout = feedback.iloc[: len(feedback) - n_holdout], feedback.iloc[len(feedback) - n_holdout :]
    older, counts["repeated"] = _without_repeats(older, list(base.train.columns))
    # Skipping an empty frame keeps the base data's dtypes (and pandas quiet).
    parts = [base.train, older[base.train.columns]] if len(older) else [base.train]
    train = pd.concat(parts, ignore_index=True)
    counts |= {
        "base_train": len(base.train),
        "feedback_train": len(older),
        "train": len(train),
        "holdout": len(holdout),
        "test": len(base.test),
    }
    _log.info("dataset for %s: %s", use_case.model_name, counts)
    return Dataset(
        train=train,
        holdout=holdout.reset_index(drop=True),
        test=base.test.reset_index(drop=True),
        counts=counts,
    )


def _without_repeats(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, int]:
    """``frame`` with one row (the newest) per example: the same inputs with the same label.

    An example seen again (a client's retry, traffic drawn from a pool of
    rows) teaches the model nothing new, and thousands of repeated OCR lines
    take a retrain from seconds to a minute. JSON keys: a label may be a list.
    """
    if frame.empty:
        return frame, 0
    keys = [json.dumps(row, default=str) for row in frame[columns].itertuples(index=False, name=None)]
    repeated = pd.Series(keys, index=frame.index).duplicated(keep="last")
    return frame[~repeated], int(repeated.sum())


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def save_snapshot(
    client: Minio,
    bucket: str,
    prefix: str,
    model_name: str,
    dataset: Dataset,
    *,
    metadata: dict | None = None,
) -> DatasetSnapshot:
    """Write the dataset under ``s3://bucket/prefix/model_name/<snapshot id>/``, manifest last.

    The snapshot id starts with the UTC time, so snapshots list in the order
    they were made; a reader trusts a snapshot only once its manifest exists.
    """
    snapshot_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    base_key = f"{prefix.strip('/')}/{model_name}/{snapshot_id}"
    for name, frame in dataset.frames().items():
        data = _parquet(frame)
        client.put_object(bucket, f"{base_key}/{name}.parquet", io.BytesIO(data), len(data))
    manifest = json.dumps(
        {"model_name": model_name, "snapshot_id": snapshot_id, "counts": dataset.counts, **(metadata or {})},
        default=str,
        indent=2,
    ).encode()
    client.put_object(
        bucket,
        f"{base_key}/manifest.json",
        io.BytesIO(manifest),
        len(manifest),
        content_type="application/json",
    )
    return DatasetSnapshot(
        uri=f"s3://{bucket}/{base_key}", snapshot_id=snapshot_id, counts=dict(dataset.counts)
    )


def _split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise DatasetError(f"not a dataset snapshot URI: {uri!r} (expected s3://bucket/key)")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def load_snapshot(client: Minio, uri: str, splits: Sequence[str] = _SPLITS) -> Dataset:
    """Read back a snapshot saved by ``save_snapshot``."""
    bucket, key = _split_uri(uri)
    try:
        response = client.get_object(bucket, f"{key}/manifest.json")
        manifest = json.loads(response.read())
        response.close()
        response.release_conn()
        frames = {}
        for name in splits:
            response = client.get_object(bucket, f"{key}/{name}.parquet")
            frames[name] = pd.read_parquet(io.BytesIO(response.read()))
            response.close()
            response.release_conn()
    except Exception as exc:
        raise DatasetError(f"cannot read the dataset snapshot {uri}: {exc}") from exc
    empty = pd.DataFrame()
    return Dataset(
        train=frames.get("train", empty),
        holdout=frames.get("holdout", empty),
        test=frames.get("test", empty),
        counts=manifest.get("counts", {}),
    )
