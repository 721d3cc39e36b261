"""The feedback job's Python UDFs: only what SQL cannot say.

``task_statistics`` scores one labeled example through its task plug-in (the
same code the offline metrics use); ``metrics_event`` turns a window's
aggregates into a closeloop.metrics.v1 event through the event contract.
Needs PyFlink: imported only in the Flink environment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

from pyflink.table import DataTypes
from pyflink.table.udf import udf, udtf

from closeloop.events import LatencyQuantiles, MetricsEvent, Window, encode
from closeloop.tasks import TaskError, get_task

__all__ = ["metrics_event", "task_statistics"]


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


@udf(result_type=DataTypes.STRING())
def metrics_event(
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
    )
    return encode(event).decode()
