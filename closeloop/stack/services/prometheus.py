"""Prometheus, from Debian's package, with the repo's scrape config and rules."""

from __future__ import annotations

import json
import shutil

from closeloop.stack.service import Health, Service, http_probe

__all__ = ["PrometheusService"]

#: Every job in docker/prometheus/prometheus.yml; each gets a targets file, empty or not.
SCRAPE_JOBS = (
    "prometheus",
    "kafka",
    "minio",
    "mlflow",
    "airflow",
    "flink",
    "gateway",
    "metrics-exporter",
    "inference",
    "alertmanager",
)


class PrometheusService(Service):
    name = "prometheus"

    @property
    def port(self) -> int:
        return self.settings.prometheus_port

    def missing(self) -> list[str]:
        if shutil.which("prometheus") is None:
            return ["the prometheus binary (Debian package prometheus)"]
        return []

    def scrape_targets(self) -> dict[str, list[str]]:
        return {"prometheus": [f"{self.settings.host}:{self.port}"]}

    def prepare(self) -> None:
        super().prepare()
        # The config is the repo's own; it finds rules/ and targets/ beside itself.
        source = self.layout.docker / "prometheus"
        shutil.copyfile(source / "prometheus.yml", self.data_dir / "prometheus.yml")
        rules = self.data_dir / "rules"
        if rules.is_symlink() or rules.exists():
            rules.unlink()
        rules.symlink_to(source / "rules", target_is_directory=True)
        self._write_targets()

    def _write_targets(self) -> None:
        from closeloop.stack.registry import build_services  # the registry imports this module

        targets: dict[str, list[str]] = {job: [] for job in SCRAPE_JOBS}
        for service in build_services(self.settings, self.layout):
            for job, addresses in service.scrape_targets().items():
                targets[job].extend(addresses)
        folder = self.data_dir / "targets"
        folder.mkdir(exist_ok=True)
        for job, addresses in targets.items():
            groups = [{"targets": addresses, "labels": {"stack": "local"}}] if addresses else []
            (folder / f"{job}.json").write_text(json.dumps(groups, indent=2))

    def command(self) -> list[str]:
        s = self.settings
        return [
            shutil.which("prometheus") or "prometheus",
            f"--config.file={self.data_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.data_dir / 'data'}",
            "--storage.tsdb.retention.time=7d",
            f"--web.listen-address={s.host}:{s.prometheus_port}",
            "--web.enable-lifecycle",
        ]

    def probe(self) -> Health:
        return http_probe(f"{self.url}/-/ready")
