"""Batch inference on a folder of files in MinIO, with the model the gateway would serve.

Each file under the prefix is one input of a use case of raw inputs (an
image, a recording: the model decodes it, as it does what the gateway
receives), or a table of inputs (Parquet or CSV, a row per input) for a use
case of numbers. The predictions land as Parquet next to the files and as
prediction events on Kafka, so that feedback given later joins them in the
streaming job. A file that cannot be read or predicted is counted as a
failure, with its reason, and the rest go on.

The events carry a raw file's ``s3://`` URI instead of its bytes: the file is
in MinIO already, and the retrain reads it back from there (feedback_frame).
Prediction ids are derived from the run and the file, so a retried task
publishes the same ids again, which the streaming job deduplicates.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.errors import CloseloopError
from closeloop.events import PredictionEvent
from closeloop.gateway.champions import LoadedModel, load_version
from closeloop.s3 import read_object, s3_client
from training.usecases import UseCase, get_use_case

__all__ = [
    "OUTPUT_PREFIX",
    "BatchPredictions",
    "batch_instances",
    "input_keys",
    "output_key",
    "predict_files",
    "run_batch",
]

_log = logging.getLogger(__name__)

#: What this module writes into the folder it reads, and so never reads as an input.
OUTPUT_PREFIX = "predictions-"
_TABLES = {".parquet", ".csv"}
# One namespace for the ids of batch predictions: uuid5(run, file, row) is the same on a retry.
_NAMESPACE = uuid.UUID("6a4f8a5e-9d1c-4c57-9d8e-0b7c1e3a2f10")


class BatchInputError(CloseloopError, ValueError):
    """A file that is no input of this use case."""


@dataclass
class BatchPredictions:
    """What a batch run predicted: a row per input, the events to publish, and the files that failed."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    events: list[PredictionEvent] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    #: The files predicted in full.
    predicted_files: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        columns = ["file", "row", "prediction_id", "model_name", "model_version", "output", "latency_ms"]
        return pd.DataFrame(self.rows, columns=columns)

    def counts(self) -> dict[str, int]:
        return {
            "files": len(self.predicted_files) + len(self.failures),
            "predicted": len(self.rows),
            "failed": len(self.failures),
        }

    def summary(self) -> str:
        counts = self.counts()
        files = f"{len(self.predicted_files)} of {counts['files']} files"
        text = f"{counts['predicted']} predictions from {files}"
        if self.failures:
            shown = "; ".join(f"{PurePosixPath(k).name}: {why}" for k, why in list(self.failures.items())[:5])
            more = f" (and {len(self.failures) - 5} more)" if len(self.failures) > 5 else ""
            text += f"; {counts['failed']} failed: {shown}{more}"
        return text


def input_keys(names: Iterable[str]) -> list[str]:
    """The object names of a folder listing that are inputs: not this module's outputs, not hidden
    files, not folders; sorted, so that a run reads them in one order."""
    keys = []
    for name in names:
        base = PurePosixPath(name).name
        if name.endswith("/") or not base or base.startswith((".", "_", OUTPUT_PREFIX)):
            continue
        keys.append(name)
    return sorted(keys)


def output_key(prefix: str, run_id: str) -> str:
    """Where a run's predictions go: next to its inputs, named by the run (a retry overwrites them)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return f"{prefix.rstrip('/')}/{OUTPUT_PREFIX}{safe}.parquet"


def batch_instances(
    use_case: UseCase, key: str, data: bytes, uri: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The inputs in one file, each as (what the model takes, what the event records).

    A use case of raw inputs takes the file as its one input, base64; its event
    records the file's URI. A use case of numbers takes a table's rows.
    """
    features = use_case.features()
    if use_case.raw_inputs:
        if len(features) != 1:
            raise BatchInputError(f"{use_case.name} takes {len(features)} raw inputs; a file is one")
        if not data:
            raise BatchInputError("the file is empty")
        return [({features[0]: base64.b64encode(data).decode("ascii")}, {features[0]: uri})]
    suffix = PurePosixPath(key).suffix.lower()
    if suffix not in _TABLES:
        raise BatchInputError(
            f"{use_case.name} reads tables ({', '.join(sorted(_TABLES))}), not {suffix or 'this file'}"
        )
    try:
        table = pd.read_parquet(io.BytesIO(data)) if suffix == ".parquet" else pd.read_csv(io.BytesIO(data))
    except Exception as exc:  # whatever the reader finds wrong in the file
        raise BatchInputError(f"cannot read the table: {type(exc).__name__}: {exc}") from exc
    missing = [name for name in features if name not in table.columns]
    if missing:
        raise BatchInputError(f"the table lacks the column(s) {', '.join(missing)}")
    # JSON numbers, as the gateway receives them: the model's own checks apply.
    records = json.loads(table[features].to_json(orient="records"))
    return [(record, record) for record in records]


def predict_files(
    model: LoadedModel,
    use_case: UseCase,
    files: Iterable[tuple[str, str, Callable[[], bytes]]],
    *,
    run_id: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BatchPredictions:
    """Predict each file's inputs with ``model``: ``files`` are (key, URI, read the bytes).

    A file whose reading, decoding or prediction fails is a failure with its
    reason; the others are predicted in full.
    """
    result = BatchPredictions()
    for key, uri, read in files:
        try:
            pairs = batch_instances(use_case, key, read(), uri)
            started = time.perf_counter()
            predicted = model.predict([instance for instance, _ in pairs], "instances")
            latency_ms = (time.perf_counter() - started) * 1000 / max(len(pairs), 1)
        except Exception as exc:  # one bad file must not stop the batch; its reason is kept
            reason = (
                str(exc) if isinstance(exc, CloseloopError | ValueError) else f"{type(exc).__name__}: {exc}"
            )
            result.failures[key] = reason[:500]
            _log.warning("%s: %s", key, reason)
            continue
        result.predicted_files.append(key)
        for row, ((_, recorded), output) in enumerate(zip(pairs, predicted.outputs, strict=True)):
            prediction_id = uuid.uuid5(_NAMESPACE, f"{run_id}/{key}/{row}").hex
            features = predicted.features[row] if predicted.features else None
            event = PredictionEvent(
                ts=now(),
                prediction_id=prediction_id,
                model_name=model.name,
                model_version=model.version,
                task=model.task.name,
                inputs=recorded,
                features=features,
                output=output,
                latency_ms=latency_ms,
            )
            result.events.append(event)
            result.rows.append(
                {
                    "file": key,
                    "row": row,
                    "prediction_id": prediction_id,
                    "model_name": model.name,
                    "model_version": model.version,
                    "output": json.dumps(output),
                    "latency_ms": latency_ms,
                }
            )
    return result


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/folder/`` as (bucket, folder); BatchInputError for anything else."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not prefix.strip("/"):
        raise BatchInputError(f"the input folder must be s3://<bucket>/<folder>/, got {uri!r:.200}")
    return bucket, prefix.strip("/") + "/"


def run_batch(
    settings: Settings, use_case_name: str, folder_uri: str, *, alias: str, run_id: str
) -> tuple[BatchPredictions, dict[str, Any]]:
    """Predict every input file under ``folder_uri`` with the version ``alias`` names, write the
    predictions as Parquet next to the files; returns them (their events still to publish) and a
    JSON-able summary: the model version, the counts, the failures and where the Parquet is."""
    use_case = get_use_case(use_case_name)
    bucket, prefix = split_uri(folder_uri)
    client = s3_client(settings)
    keys = input_keys(o.object_name for o in client.list_objects(bucket, prefix=prefix, recursive=True))
    if not keys:
        raise BatchInputError(f"no input files under {folder_uri}")
    registry = MlflowClient(settings.mlflow_tracking_uri)
    version = registry.get_model_version_by_alias(use_case.model_name, alias).version
    with tempfile.TemporaryDirectory(prefix="closeloop-batch-") as cache:
        model = load_version(
            registry,
            use_case.model_name,
            version,
            tracking_uri=settings.mlflow_tracking_uri,
            cache=Path(cache),
        )
        _log.info("%d files under %s, %s version %s (%s)", len(keys), folder_uri, model.name, version, alias)

        files = ((key, f"s3://{bucket}/{key}", partial(read_object, client, bucket, key)) for key in keys)
        result = predict_files(model, use_case, files, run_id=run_id)
    target = output_key(prefix, run_id)
    body = result.frame().to_parquet(index=False)
    client.put_object(
        bucket, target, io.BytesIO(body), len(body), content_type="application/vnd.apache.parquet"
    )
    summary = {
        "model_name": model.name,
        "model_version": version,
        "alias": alias,
        **result.counts(),
        "failures": result.failures,
        "output": f"s3://{bucket}/{target}",
        "summary": result.summary(),
    }
    _log.info("%s; predictions at %s", result.summary(), summary["output"])
    return result, summary
