"""The gateway's own Prometheus metrics, in a registry of its own (one per app, so tests can make many)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram

from closeloop.process_metrics import register_process_metrics

__all__ = ["GatewayMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        register_process_metrics(self.registry)
        self.requests = Counter(
            "closeloop_gateway_requests",
            "HTTP requests by endpoint, model, version and status code.",
            ["endpoint", "model", "version", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "closeloop_gateway_request_seconds",
            "Time to answer a request, by endpoint, model and version.",
            ["endpoint", "model", "version"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_latency = Histogram(
            "closeloop_gateway_model_seconds",
            "Time inside the model per request (a whole batch), by model and version.",
            ["model", "version"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "closeloop_gateway_predictions",
            "Predictions served, by model and version.",
            ["model", "version"],
            registry=self.registry,
        )
        self.raw_inputs_stored = Counter(
            "closeloop_gateway_raw_inputs_stored",
            "Raw inputs too large for their event, stored in MinIO instead, by model.",
            ["model"],
            registry=self.registry,
        )
        self.errors = Counter(
            "closeloop_gateway_errors",
            "Requests that failed, by endpoint, model, version and kind.",
            ["endpoint", "model", "version", "kind"],
            registry=self.registry,
        )

    def answered(
        self, endpoint: str, status: int, model: str = "", version: str = "", *, started: float | None = None
    ) -> None:
        """A request answered with ``status``; its latency too, from ``started`` (perf_counter)."""
        self.requests.labels(endpoint, model, version, str(status)).inc()
        if started is not None:
            self.latency.labels(endpoint, model, version).observe(time.perf_counter() - started)

    def failed(
        self, endpoint: str, kind: str, model: str = "", version: str = "", *, status: int | None = None
    ) -> None:
        """A request that failed, by kind; with ``status`` when the route answers it itself."""
        self.errors.labels(endpoint, model, version, kind).inc()
        if status is not None:
            self.requests.labels(endpoint, model, version, str(status)).inc()
