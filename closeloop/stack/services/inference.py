"""Stream inference: closeloop.requests answered with the champions, for applications that use Kafka."""

from __future__ import annotations

from closeloop.stack.service import Health, Service, http_probe

__all__ = ["InferenceService"]


class InferenceService(Service):
    name = "inference"
    depends_on = ("kafka", "minio", "mlflow")

    @property
    def port(self) -> int:
        return self.settings.inference_port

    def missing(self) -> list[str]:
        if not (self.layout.venv / "bin" / "python").exists():
            return [f"the virtualenv {self.layout.venv}"]
        return []

    def command(self) -> list[str]:
        return [str(self.layout.venv / "bin" / "python"), "-m", "closeloop.inference"]

    def environment(self) -> dict[str, str]:
        s = self.settings
        return {
            **super().environment(),
            **self.closeloop_environment(),
            "CLOSELOOP_HOST": s.host,
            "CLOSELOOP_INFERENCE_PORT": str(s.inference_port),
        }

    def scrape_targets(self) -> dict[str, list[str]]:
        return {"inference": [f"{self.settings.host}:{self.port}"]}

    def probe(self) -> Health:
        return http_probe(f"{self.url}/metrics")
