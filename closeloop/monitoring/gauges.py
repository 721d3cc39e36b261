"""The live metrics of closeloop.metrics as Prometheus gauges, for Prometheus' alert rules.

One sample set per model version and window kind: the newest window wins, so a
replayed or late metrics event never moves a gauge back in time. A version
whose newest window ended longer ago than ``stale_after_s`` disappears, so its
series go stale and the alerts on it resolve once it stops serving.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from closeloop.events import MetricsEvent

__all__ = ["LiveMetricsCollector"]

#: Labels every series carries: the webhook turns a firing alert back into an
#: AlertEvent with them, so they are named as the event's fields.
LABELS = ["model_name", "model_version", "task", "window"]
_PREFIX = "closeloop_model"


class LiveMetricsCollector(Collector):
    """The newest MetricsEvent of each (model, version, window kind), exposed on every scrape."""

    def __init__(self, *, stale_after_s: float = 900.0, clock: Callable[[], float] = time.time) -> None:
        self.stale_after_s = stale_after_s
        self._clock = clock
        self._latest: dict[tuple[str, str, str], MetricsEvent] = {}
        self._lock = threading.Lock()

    def observe(self, event: MetricsEvent) -> bool:
        """Keep ``event`` if it is the newest window of its series; True if it was kept."""
        key = (event.model_name, event.model_version, event.window.kind)
        with self._lock:
            current = self._latest.get(key)
            if current is not None and current.window.end >= event.window.end:
                return False
            self._latest[key] = event
            return True

    def current(self) -> list[MetricsEvent]:
        """The events the next scrape shows; stale ones are forgotten here."""
        oldest = self._clock() - self.stale_after_s
        with self._lock:
            for key in [k for k, e in self._latest.items() if e.window.end.timestamp() < oldest]:
                del self._latest[key]
            return list(self._latest.values())

    def collect(self) -> Iterator[Metric]:
        families = _Families()
        for event in self.current():
            families.add(event)
        yield from families.all()


class _Families:
    """The gauge families of one scrape, filled one event at a time."""

    def __init__(self) -> None:
        def gauge(name: str, doc: str, extra: tuple[str, ...] = ()) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{_PREFIX}_{name}", doc, labels=[*LABELS, *extra])

        self.counts = {
            field: gauge(field, f"{doc} in the newest window.")
            for field, doc in (
                ("predictions", "Predictions made"),
                ("feedback", "Feedback received"),
                ("labeled", "Predictions joined with their feedback"),
                ("errors", "Predictions the model failed on"),
            )
        }
        self.label_coverage = gauge("label_coverage", "Share of the window's predictions with feedback.")
        self.error_rate = gauge("error_rate", "Share of the window's predictions that failed.")
        self.quality = gauge(
            "quality", "The task's quality metrics over the labeled predictions.", ("metric",)
        )
        self.latency = gauge("latency_ms", "Model latency quantiles in milliseconds.", ("quantile",))
        self.psi = gauge(
            "drift_psi", "Population stability index against the reference profile.", ("feature",)
        )
        self.js = gauge(
            "drift_js", "Jensen-Shannon distance (base 2) against the reference profile.", ("feature",)
        )
        self.window_end = gauge("window_end_timestamp_seconds", "When the newest window ended.")
        self.window_seconds = gauge("window_seconds", "Length of the newest window.")

    def add(self, event: MetricsEvent) -> None:
        labels = [event.model_name, event.model_version, event.task, event.window.kind]
        for field, family in self.counts.items():
            family.add_metric(labels, getattr(event, field))
        self.label_coverage.add_metric(labels, event.label_coverage)
        self.error_rate.add_metric(labels, event.error_rate)
        for metric, value in event.quality.items():
            self.quality.add_metric([*labels, metric], value)
        if event.latency_ms is not None:
            latency = event.latency_ms
            for quantile, value in (("0.5", latency.p50), ("0.95", latency.p95), ("0.99", latency.p99)):
                self.latency.add_metric([*labels, quantile], value)
        for feature, drift in event.drift.items():
            self.psi.add_metric([*labels, feature], drift.psi)
            self.js.add_metric([*labels, feature], drift.js)
        self.window_end.add_metric(labels, event.window.end.timestamp())
        self.window_seconds.add_metric(labels, (event.window.end - event.window.start).total_seconds())

    def all(self) -> list[GaugeMetricFamily]:
        return [
            *self.counts.values(),
            self.label_coverage,
            self.error_rate,
            self.quality,
            self.latency,
            self.psi,
            self.js,
            self.window_end,
            self.window_seconds,
        ]
