"""The metrics exporter's gauges: the newest window of each model version, as Prometheus reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from closeloop.events import FeatureDrift, LatencyQuantiles, MetricsEvent, Window
from closeloop.monitoring.gauges import LiveMetricsCollector

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def metrics(
    end: datetime, *, version: str = "3", accuracy: float = 0.9, kind: str = "tumbling"
) -> MetricsEvent:
    return MetricsEvent(
        model_name="digits",
        model_version=version,
        task="classification",
        window=Window(start=end - timedelta(seconds=60), end=end, kind=kind),
        predictions=400,
        feedback=150,
        labeled=120,
        errors=4,
        label_coverage=0.3,
        error_rate=0.01,
        quality={"accuracy": accuracy, "macro_f1": accuracy - 0.05},
        latency_ms=LatencyQuantiles(p50=2.0, p95=8.0, p99=15.5),
        drift={"pixel_0": FeatureDrift(psi=0.02, js=0.01), "__output__": FeatureDrift(psi=1.25, js=0.4)},
    )


def scrape(collector: LiveMetricsCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(**extra: str) -> tuple[tuple[str, str], ...]:
    base = {"model_name": "digits", "model_version": "3", "task": "classification", "window": "tumbling"}
    return tuple(sorted({**base, **extra}.items()))


def test_every_field_of_the_window_is_a_labelled_gauge() -> None:
    collector = LiveMetricsCollector(clock=NOW.timestamp)
    assert collector.observe(metrics(NOW))
    samples = scrape(collector)
    assert samples[("closeloop_model_predictions", labels())] == 400
    assert samples[("closeloop_model_labeled", labels())] == 120
    assert samples[("closeloop_model_errors", labels())] == 4
    assert samples[("closeloop_model_label_coverage", labels())] == 0.3
    assert samples[("closeloop_model_error_rate", labels())] == 0.01
    assert samples[("closeloop_model_quality", labels(metric="accuracy"))] == 0.9
    assert samples[("closeloop_model_quality", labels(metric="macro_f1"))] == 0.9 - 0.05
    assert samples[("closeloop_model_latency_ms", labels(quantile="0.99"))] == 15.5
    assert samples[("closeloop_model_latency_ms", labels(quantile="0.5"))] == 2.0
    assert samples[("closeloop_model_drift_psi", labels(feature="__output__"))] == 1.25
    assert samples[("closeloop_model_drift_js", labels(feature="pixel_0"))] == 0.01
    assert samples[("closeloop_model_window_end_timestamp_seconds", labels())] == NOW.timestamp()
    assert samples[("closeloop_model_window_seconds", labels())] == 60


def test_the_newest_window_wins_and_a_replay_does_not_move_it_back() -> None:
    collector = LiveMetricsCollector(clock=NOW.timestamp)
    assert collector.observe(metrics(NOW - timedelta(minutes=2), accuracy=0.95))
    assert collector.observe(metrics(NOW - timedelta(minutes=1), accuracy=0.6))
    assert not collector.observe(metrics(NOW - timedelta(minutes=2), accuracy=0.95))  # replayed
    assert scrape(collector)[("closeloop_model_quality", labels(metric="accuracy"))] == 0.6


def test_versions_and_window_kinds_are_separate_series() -> None:
    collector = LiveMetricsCollector(clock=NOW.timestamp)
    collector.observe(metrics(NOW, version="3", accuracy=0.6))
    collector.observe(metrics(NOW, version="4", accuracy=0.97))
    collector.observe(metrics(NOW, version="3", accuracy=0.7, kind="sliding"))
    samples = scrape(collector)
    assert samples[("closeloop_model_quality", labels(metric="accuracy"))] == 0.6
    assert samples[("closeloop_model_quality", labels(metric="accuracy", model_version="4"))] == 0.97
    assert samples[("closeloop_model_quality", labels(metric="accuracy", window="sliding"))] == 0.7


def test_a_version_that_stopped_serving_disappears() -> None:
    clock = [NOW.timestamp()]
    collector = LiveMetricsCollector(stale_after_s=600, clock=lambda: clock[0])
    collector.observe(metrics(NOW, version="3"))
    collector.observe(metrics(NOW + timedelta(minutes=9), version="4"))
    clock[0] += 11 * 60
    versions = {dict(key[1])["model_version"] for key in scrape(collector)}
    assert versions == {"4"}
