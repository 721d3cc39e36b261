"""The closeloop gateway under uvicorn."""

from __future__ import annotations

from closeloop.stack.service import Health, Service, http_probe

__all__ = ["KEEP_ALIVE_S", "GatewayService"]


# Longer than any client's idle-connection expiry: a server that closes an idle
# keep-alive connection as the client reuses it makes that request fail with a
# reset (uvicorn's 5 s default equals httpx's). Load balancers want the same.
KEEP_ALIVE_S = 75


class GatewayService(Service):
    name = "gateway"
    depends_on = ("kafka", "mlflow")

    @property
    def port(self) -> int:
        return self.settings.gateway_port

    def missing(self) -> list[str]:
        if not (self.layout.venv / "bin" / "uvicorn").exists():
            return [f"uvicorn in the virtualenv {self.layout.venv}"]
        return []

    def command(self) -> list[str]:
        s = self.settings
        return [
            str(self.layout.venv / "bin" / "uvicorn"),
            "closeloop.gateway.app:create_app",
            "--factory",
            "--host",
            s.host,
            "--port",
            str(s.gateway_port),
            "--workers",
            str(s.gateway_workers),
            "--no-server-header",
            "--timeout-keep-alive",
            str(KEEP_ALIVE_S),
        ]

    def environment(self) -> dict[str, str]:
        return {**super().environment(), **self.closeloop_environment()}

    def scrape_targets(self) -> dict[str, list[str]]:
        return {"gateway": [f"{self.settings.host}:{self.port}"]}

    def probe(self) -> Health:
        return http_probe(f"{self.url}/healthz")

    def urls(self) -> dict[str, str]:
        return {"gateway": self.url, "gateway API docs": f"{self.url}/docs"}
