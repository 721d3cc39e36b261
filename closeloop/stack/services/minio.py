"""MinIO: the S3 store for the feedback lake, reports and MLflow's artifacts."""

from __future__ import annotations

from closeloop.s3 import ensure_buckets, s3_client
from closeloop.stack.service import Health, Service, http_probe

__all__ = ["MinioService"]


class MinioService(Service):
    name = "minio"

    @property
    def port(self) -> int:
        return self.settings.minio_port

    @property
    def ports(self) -> list[int]:
        return [self.settings.minio_port, self.settings.minio_console_port]

    def urls(self) -> dict[str, str]:
        console = f"http://{self.settings.host}:{self.settings.minio_console_port}"
        return {"minio (S3)": self.url, "minio console": console}

    @property
    def _binary(self) -> str:
        return str(self.layout.bin / "minio")

    def missing(self) -> list[str]:
        if not (self.layout.bin / "minio").exists():
            return [f"the MinIO server binary {self._binary}"]
        return []

    def command(self) -> list[str]:
        s = self.settings
        return [
            self._binary,
            "server",
            str(self.data_dir / "data"),
            "--address",
            f"{s.host}:{s.minio_port}",
            "--console-address",
            f"{s.host}:{s.minio_console_port}",
            "--quiet",
        ]

    def environment(self) -> dict[str, str]:
        s = self.settings
        return {
            **super().environment(),
            "MINIO_ROOT_USER": s.s3_access_key,
            "MINIO_ROOT_PASSWORD": s.s3_secret_key.get_secret_value(),
            # Prometheus scrapes /minio/v2/metrics/cluster without a bearer token.
            "MINIO_PROMETHEUS_AUTH_TYPE": "public",
            "MINIO_UPDATE": "off",
        }

    def scrape_targets(self) -> dict[str, list[str]]:
        return {"minio": [f"{self.settings.host}:{self.settings.minio_port}"]}

    def probe(self) -> Health:
        return http_probe(f"{self.url}/minio/health/ready")

    def provision(self) -> None:
        ensure_buckets(s3_client(self.settings), self.settings.buckets)
