"""The gateway's request metrics: one call per answered or failed request sets the right series."""

from __future__ import annotations

import time

from closeloop.gateway.metrics import GatewayMetrics


def _value(metrics: GatewayMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_an_answered_request_counts_its_status_and_its_latency() -> None:
    metrics = GatewayMetrics()
    metrics.answered("/v1/models/{name}/predict", 200, "digits", "3", started=time.perf_counter())
    metrics.answered("/v1/models/{name}/predict", 503, "digits", "3")
    series = {"endpoint": "/v1/models/{name}/predict", "model": "digits", "version": "3"}
    assert _value(metrics, "closeloop_gateway_requests_total", **series, status="200") == 1
    assert _value(metrics, "closeloop_gateway_requests_total", **series, status="503") == 1
    # Only the one with a start time is timed.
    assert _value(metrics, "closeloop_gateway_request_seconds_count", **series) == 1


def test_a_failed_request_counts_its_kind_and_its_status_only_when_given() -> None:
    metrics = GatewayMetrics()
    metrics.failed("/v1/feedback", "too_large")
    metrics.failed("/v1/models/{name}/predict", "invalid_input", "digits", "3", status=422)
    assert (
        _value(
            metrics,
            "closeloop_gateway_errors_total",
            endpoint="/v1/feedback",
            model="",
            version="",
            kind="too_large",
        )
        == 1
    )
    assert (
        _value(
            metrics,
            "closeloop_gateway_requests_total",
            endpoint="/v1/feedback",
            model="",
            version="",
            status="413",
        )
        is None
    )
    predict = {"endpoint": "/v1/models/{name}/predict", "model": "digits", "version": "3"}
    assert _value(metrics, "closeloop_gateway_errors_total", **predict, kind="invalid_input") == 1
    assert _value(metrics, "closeloop_gateway_requests_total", **predict, status="422") == 1
