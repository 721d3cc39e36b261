"""Prometheus' statsd_exporter: turns Airflow's StatsD metrics into a scrape target.

Airflow has no Prometheus endpoint of its own; its metrics go out as StatsD,
which is the route Airflow's Helm chart takes too.
"""

from __future__ import annotations

from closeloop.stack.service import Health, Service, http_probe

__all__ = ["StatsdExporterService"]


class StatsdExporterService(Service):
    name = "statsd-exporter"

    @property
    def port(self) -> int:
        return self.settings.airflow_metrics_port

    @property
    def ports(self) -> list[int]:
        return [self.settings.airflow_metrics_port]

    @property
    def _binary(self) -> str:
        return str(self.layout.bin / "statsd_exporter")

    def missing(self) -> list[str]:
        if not (self.layout.bin / "statsd_exporter").exists():
            return [f"the statsd_exporter binary {self._binary}"]
        return []

    def command(self) -> list[str]:
        s = self.settings
        return [
            self._binary,
            f"--web.listen-address={s.host}:{s.airflow_metrics_port}",
            f"--statsd.listen-udp={s.host}:{s.airflow_statsd_port}",
            "--statsd.listen-tcp=",
            f"--statsd.mapping-config={self.layout.docker / 'prometheus' / 'statsd-mapping.yml'}",
        ]

    def scrape_targets(self) -> dict[str, list[str]]:
        return {"airflow": [f"{self.settings.host}:{self.settings.airflow_metrics_port}"]}

    def probe(self) -> Health:
        return http_probe(f"{self.url}/metrics")
