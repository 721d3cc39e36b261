"""Labeled examples written to the lake as the streaming job writes them: Parquet, by model and day."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from closeloop.config import Settings
from closeloop.s3 import s3_client
from training.usecases import TARGET, UseCase

__all__ = ["write_labeled"]

_SCHEMA = pa.schema(
    [
        ("prediction_id", pa.string()),
        ("model_version", pa.string()),
        ("task", pa.string()),
        ("inputs", pa.string()),
        ("output", pa.string()),
        ("ground_truth", pa.string()),
        ("source", pa.string()),
        ("prediction_ts", pa.timestamp("ms")),
        ("feedback_ts", pa.timestamp("ms")),
    ]
)


def write_labeled(
    settings: Settings,
    use_case: UseCase,
    frame: pd.DataFrame,
    outputs: list,
    *,
    prefix: str,
    model_version: str = "1",
    end: datetime | None = None,
    spacing: timedelta = timedelta(seconds=1),
) -> str:
    """One lake row per row of ``frame`` (features and TARGET), the last one's feedback at ``end``.

    Returns the object's key in the lake bucket."""
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    features = use_case.features()
    times = [end - spacing * (len(frame) - 1 - i) for i in range(len(frame))]
    table = pa.Table.from_pylist(
        [
            {
                "prediction_id": uuid.uuid4().hex,
                "model_version": model_version,
                "task": use_case.task,
                "inputs": json.dumps(
                    {
                        # Raw inputs (an image) are strings, as the gateway logged them.
                        name: value if use_case.raw_inputs else float(value)
                        for name, value in zip(features, row, strict=True)
                    }
                ),
                "output": json.dumps(output),
                "ground_truth": json.dumps(truth),
                "source": "test",
                "prediction_ts": at - timedelta(seconds=5),
                "feedback_ts": at,
            }
            # Not iterrows: a row Series would make an integer label a float.
            for row, truth, output, at in zip(
                frame[features].itertuples(index=False), frame[TARGET].tolist(), outputs, times, strict=True
            )
        ],
        schema=_SCHEMA,
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    data = buffer.getvalue()
    key = f"{prefix}/model_name={use_case.model_name}/dt={end:%Y-%m-%d}/part-test-{uuid.uuid4().hex}.parquet"
    s3_client(settings).put_object(settings.lake_bucket, key, io.BytesIO(data), len(data))
    return key
