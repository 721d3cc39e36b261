"""The feedback job's Python UDFs: only what SQL cannot say.

``task_statistics`` scores one labeled example through its task plug-in (the
same code the offline metrics use); ``metrics_event`` turns a window's
aggregates into a closeloop.metrics.v1 event through the event contract, with
the window's drift against its model version's reference profile.
Needs PyFlink: imported only in the Flink environment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlparse

from minio import Minio
from pyflink.metrics import Counter
from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction, udf, udtf

from closeloop.config import Settings
from closeloop.events import LatencyQuantiles, MetricsEvent, Window, encode
from closeloop.monitoring.drift import column_drift, window_counts
from closeloop.monitoring.profiles import ProfileCache, load_profile
from closeloop.tasks import TaskError, get_task

__all__ = ["count_dead_letter", "metrics_event", "task_statistics"]


@udtf(result_types=[DataTypes.STRING(), DataTypes.DOUBLE(), DataTypes.STRING()])
def task_statistics(
    task: str, output: str, truth: str
) -> Iterator[tuple[str | None, float | None, str | None]]:
    """(key, value, None) for each statistic of one example, or (None, None, reason) if unscorable.

    ``output`` and ``truth`` arrive as JSON wrapped in a one-element array.
    """
    try:
        stats = get_task(task).statistics(json.loads(output)[0], json.loads(truth)[0])
    except (TaskError, ValueError, TypeError, IndexError) as exc:
        yield None, None, f"ground_truth: cannot be scored against the {task} output: {exc}"[:1000]
        return
    for key, value in stats.items():
        yield key, value, None


def _utc(value: datetime) -> datetime:
    # Flink hands TIMESTAMP(3) over as naive wall time; the job's zone is UTC.
    return value.replace(tzinfo=UTC)


class MetricsEventFunction(ScalarFunction):
    """A window's aggregates, and its sample of inputs and outputs, as a closeloop.metrics.v1 event.

    Drift is measured here, once per window, against the reference profile of
    the model version, read from the lake and kept for ``refresh_s`` seconds:
    a profile written later (or again) is picked up without a restart.
    """

    def __init__(
        self, *, s3_endpoint: str, access_key: str, secret_key: str, bucket: str, prefix: str, refresh_s: int
    ):
        self._s3 = (s3_endpoint, access_key, secret_key)
        self._bucket, self._prefix, self._refresh_s = bucket, prefix, refresh_s
        self._profiles: ProfileCache | None = None

    def open(self, function_context: object) -> None:
        endpoint, access_key, secret_key = self._s3
        url = urlparse(endpoint)
        client = Minio(url.netloc, access_key=access_key, secret_key=secret_key, secure=url.scheme == "https")
        self._profiles = ProfileCache(
            lambda name, version: load_profile(client, self._bucket, self._prefix, name, version),
            self._refresh_s,
        )

    def _drift(self, model_name: str, model_version: str, inputs: str | None, outputs: str | None) -> dict:
        if not inputs and not outputs:
            return {}
        assert self._profiles is not None
        profile = self._profiles.get(model_name, model_version)
        if profile is None:
            return {}
        rows = [json.loads(line) for line in inputs.split("\n")] if inputs else []
        values = [json.loads(line)[0] for line in outputs.split("\n")] if outputs else []
        return column_drift(profile, window_counts(profile, rows, values))

    def eval(
        self,
        model_name: str,
        model_version: str,
        task: str,
        kind: str,
        window_start: datetime,
        window_end: datetime,
        predictions: int,
        errors: int,
        feedback: int,
        labeled: int,
        latency: list[float] | None,
        totals: str | None,
        inputs: str | None,
        outputs: str | None,
    ) -> str:
        quality = get_task(task).from_statistics(json.loads(totals)) if totals else {}
        event = MetricsEvent(
            ts=_utc(window_end),
            model_name=model_name,
            model_version=model_version,
            task=task,
            window=Window(start=_utc(window_start), end=_utc(window_end), kind=kind),
            predictions=predictions,
            feedback=feedback,
            labeled=labeled,
            errors=errors,
            # Feedback in this window may label predictions of earlier windows.
            label_coverage=min(1.0, labeled / predictions) if predictions else 0.0,
            error_rate=errors / predictions if predictions else 0.0,
            quality=quality,
            latency_ms=LatencyQuantiles(p50=latency[0], p95=latency[1], p99=latency[2]) if latency else None,
            drift=self._drift(model_name, model_version, inputs, outputs),
        )
        return encode(event).decode()


def metrics_event(settings: Settings, refresh_s: int) -> object:
    """The UDF, bound to the lake where reference profiles live."""
    return udf(
        MetricsEventFunction(
            s3_endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            bucket=settings.lake_bucket,
            prefix=settings.profiles_prefix,
            refresh_s=refresh_s,
        ),
        result_type=DataTypes.STRING(),
    )


class CountDeadLetter(ScalarFunction):
    """Passes a dead letter through, counting it by source topic and field.

    Flink reports the counts as the operator metric `dead_letters` (Prometheus
    labels source_topic and field): unknown or expired predictions, broken
    events, late ones, unscorable labels.
    """

    def open(self, function_context: FunctionContext) -> None:
        self._group = function_context.get_metric_group()
        self._counters: dict[tuple[str, str], Counter] = {}

    def eval(self, source_topic: str, field: str, letter: str) -> str:
        counter = self._counters.get((source_topic, field))
        if counter is None:
            group = self._group.add_group("source_topic", source_topic).add_group("field", field)
            counter = self._counters[source_topic, field] = group.counter("dead_letters")
        counter.inc()
        return letter


count_dead_letter = udf(CountDeadLetter(), result_type=DataTypes.STRING())
