"""The MLflow tracking server and model registry: SQLite backend, artifacts in MinIO."""

from __future__ import annotations

from closeloop.stack.service import Health, Service, http_probe

__all__ = ["MlflowService"]


class MlflowService(Service):
    name = "mlflow"
    depends_on = ("minio",)

    @property
    def port(self) -> int:
        return self.settings.mlflow_port

    def missing(self) -> list[str]:
        if not (self.layout.venv / "bin" / "mlflow").exists():
            return [f"mlflow in the virtualenv {self.layout.venv}"]
        return []

    def command(self) -> list[str]:
        s = self.settings
        return [
            str(self.layout.venv / "bin" / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.data_dir / 'mlflow.db'}",
            # Clients upload and download artifacts through the server (proxied),
            # so they need no S3 credentials of their own.
            "--artifacts-destination",
            f"s3://{s.artifacts_bucket}/mlflow",
            "--host",
            s.host,
            "--port",
            str(s.mlflow_port),
            "--workers",
            "1",
            "--expose-prometheus",
            str(self.data_dir / "prometheus"),
        ]

    def environment(self) -> dict[str, str]:
        s = self.settings
        return {
            **super().environment(),
            "MLFLOW_S3_ENDPOINT_URL": s.s3_endpoint,
            "AWS_ACCESS_KEY_ID": s.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": s.s3_secret_key.get_secret_value(),
            "AWS_DEFAULT_REGION": "us-east-1",
            # Lean: the job runner serves GenAI features closeloop does not use.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }

    def scrape_targets(self) -> dict[str, list[str]]:
        return {"mlflow": [f"{self.settings.host}:{self.settings.mlflow_port}"]}

    def probe(self) -> Health:
        return http_probe(f"{self.url}/health")
