"""The metrics exporter: the Flink job's live model metrics (closeloop.metrics) as Prometheus gauges."""

from __future__ import annotations

from closeloop.stack.service import Health, Service, http_probe

__all__ = ["MetricsExporterService"]


class MetricsExporterService(Service):
    name = "metrics-exporter"
    depends_on = ("kafka",)

    @property
    def port(self) -> int:
        return self.settings.metrics_exporter_port

    def missing(self) -> list[str]:
        if not (self.layout.venv / "bin" / "python").exists():
            return [f"the virtualenv {self.layout.venv}"]
        return []

    def command(self) -> list[str]:
        return [str(self.layout.venv / "bin" / "python"), "-m", "closeloop.monitoring.exporter"]

    def environment(self) -> dict[str, str]:
        s = self.settings
        return {
            **super().environment(),
            **self.closeloop_environment(),
            # Where it serves /metrics: the exporter's own settings, given the stack's values.
            "CLOSELOOP_HOST": s.host,
            "CLOSELOOP_METRICS_EXPORTER_PORT": str(s.metrics_exporter_port),
        }

    def scrape_targets(self) -> dict[str, list[str]]:
        return {"metrics-exporter": [f"{self.settings.host}:{self.port}"]}

    def probe(self) -> Health:
        return http_probe(f"{self.url}/metrics")
