"""The feedback job's one Python UDF: once per window, never per record.

``metrics_event`` turns a window's sums into a closeloop.metrics.v1 event
through the event contract: quality from the summed task statistics (the task
plug-in's ``from_statistics``), drift from the window's bin counts
("column#bin" → count, from the JVM's drift_bins) against the version's
reference profile. Needs PyFlink: imported only in the Flink environment.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf

from closeloop.config import Settings
from closeloop.events import LatencyQuantiles, MetricsEvent, Window, encode
from closeloop.monitoring.drift import column_drift
from closeloop.monitoring.profiles import ProfileCache, ReferenceProfile, load_profile
from closeloop.s3 import minio_client
from closeloop.tasks import TaskError, get_task

__all__ = ["bin_counts", "metrics_event"]

_log = logging.getLogger(__name__)


def _utc(value: datetime) -> datetime:
    # Flink hands TIMESTAMP(3) over as naive wall time; the job's zone is UTC.
    return value.replace(tzinfo=UTC)


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
    if not totals or not totals.get("n"):
        return {}  # nothing labeled, or every label taken back (a retraction)
    try:
        return get_task(task).from_statistics(totals)
    except TaskError as exc:
        # One window's undefined metric must not stop the job.
        _log.warning("%s window without quality metrics: %s", task, exc)
        return {}


class MetricsEventFunction(ScalarFunction):
    """A window's sums as a closeloop.metrics.v1 event.

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
        client = minio_client(*self._s3)
        self._profiles = ProfileCache(
            lambda name, version: load_profile(client, self._bucket, self._prefix, name, version),
            self._refresh_s,
        )

    def _bins_drift(self, model_name: str, model_version: str, bins: Mapping[str, float] | None) -> dict:
        if not bins:
            return {}
        assert self._profiles is not None
        profile = self._profiles.get(model_name, model_version)
        if profile is None:
            return {}
        return column_drift(profile, bin_counts(profile, bins))

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
