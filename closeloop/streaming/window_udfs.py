"""The pair-join graph's Python UDF: once per window, never per record.

``metrics_event`` turns a window's sums into a closeloop.metrics.v1 event:
quality from the summed task statistics (the task plug-in's
``from_statistics``), drift from the window's bin counts ("column#bin" →
count, from the JVM's drift_bins) against the version's reference profile.
The temporal-join graph's UDFs (closeloop.streaming.udfs) build the same
event from JSON lines. Needs PyFlink: imported only in the Flink environment.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

import numpy as np
from pyflink.table import DataTypes
from pyflink.table.udf import udf

from closeloop.config import Settings
from closeloop.events import LatencyQuantiles, MetricsEvent, Window, encode
from closeloop.monitoring.drift import column_drift
from closeloop.monitoring.profiles import ReferenceProfile
from closeloop.streaming.udfs import MetricsEventFunction, _utc
from closeloop.tasks import TaskError, get_task

__all__ = ["bin_counts", "metrics_event"]

_log = logging.getLogger(__name__)


def bin_counts(profile: ReferenceProfile, bins: Mapping[str, float]) -> dict[str, np.ndarray]:
    """The window's counts per profiled column, from the JVM's "column#bin" -> count sums.

    A bin the profile does not have (the profile was rewritten with other bins
    since the prediction was binned) drops its column for this window.
    """
    counts = {name: np.zeros(len(b.proportions)) for name, b in profile.columns().items()}
    broken = set()
    for key, count in bins.items():
        name, _, index = key.rpartition("#")
        if name not in counts or not index.isdigit() or int(index) >= len(counts[name]):
            broken.add(name)
            continue
        counts[name][int(index)] += count
    return {name: c for name, c in counts.items() if name not in broken}


def _quality(task: str, totals: Mapping[str, float] | None) -> dict[str, float]:
    """The window's quality metrics; none where they are undefined (e.g. every reference text empty)."""
    if not totals:
        return {}
    try:
        return get_task(task).from_statistics(totals)
    except TaskError as exc:
        # One window's undefined metric must not stop the job.
        _log.warning("%s window without quality metrics: %s", task, exc)
        return {}


class WindowMetricsEventFunction(MetricsEventFunction):
    """A window's sums as a closeloop.metrics.v1 event; the profile cache is its parent's."""

    def _bins_drift(self, model_name: str, model_version: str, bins: Mapping[str, float] | None) -> dict:
        if not bins:
            return {}
        assert self._profiles is not None
        profile = self._profiles.get(model_name, model_version)
        if profile is None:
            return {}
        return column_drift(profile, bin_counts(profile, bins))

    def eval(  # type: ignore[override]
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
        totals: dict[str, float] | None,
        bins: dict[str, float] | None,
    ) -> str:
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
            label_coverage=min(1.0, labeled / predictions) if predictions else 0.0,
            error_rate=errors / predictions if predictions else 0.0,
            quality=_quality(task, totals),
            latency_ms=LatencyQuantiles(p50=latency[0], p95=latency[1], p99=latency[2]) if latency else None,
            drift=self._bins_drift(model_name, model_version, bins),
        )
        return encode(event).decode()


def metrics_event(settings: Settings, refresh_s: int) -> object:
    """The UDF, bound to the lake where reference profiles live."""
    return udf(
        WindowMetricsEventFunction(
            s3_endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            bucket=settings.lake_bucket,
            prefix=settings.profiles_prefix,
            refresh_s=refresh_s,
        ),
        result_type=DataTypes.STRING(),
    )
