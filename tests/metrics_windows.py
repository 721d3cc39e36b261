"""A streaming job's window of one model version, as tests of what reads closeloop.metrics build it."""

from __future__ import annotations

from datetime import datetime, timedelta

from closeloop.events import LatencyQuantiles, MetricsEvent, Window

__all__ = ["metrics_window"]


def metrics_window(
    model: str,
    version: str,
    start: datetime,
    quality: dict[str, float],
    *,
    labeled: int = 50,
    predictions: int = 100,
    errors: int = 0,
    p99: float | None = None,
    seconds: float = 60.0,
) -> MetricsEvent:
    """A tumbling window of ``seconds`` from ``start``; every labeled prediction had feedback."""
    return MetricsEvent(
        model_name=model,
        model_version=version,
        task="classification",
        window=Window(start=start, end=start + timedelta(seconds=seconds)),
        predictions=predictions,
        feedback=labeled,
        labeled=labeled,
        errors=errors,
        label_coverage=labeled / predictions,
        error_rate=errors / predictions,
        quality=quality,
        latency_ms=None if p99 is None else LatencyQuantiles(p50=1.0, p95=2.0, p99=p99),
    )
