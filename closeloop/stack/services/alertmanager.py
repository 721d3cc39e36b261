"""Prometheus' Alertmanager, from Debian's package, routing every alert to the gateway's webhook."""

from __future__ import annotations

import shutil

from closeloop.stack.service import Health, Service, http_probe

__all__ = ["COMPOSE_WEBHOOK", "AlertmanagerService"]

#: The webhook's address in docker/alertmanager/alertmanager.yml, as compose names the gateway.
COMPOSE_WEBHOOK = "http://gateway:8000/v1/alerts/alertmanager"


class AlertmanagerService(Service):
    name = "alertmanager"

    @property
    def port(self) -> int:
        return self.settings.alertmanager_port

    @property
    def _binary(self) -> str | None:
        """Debian names it prometheus-alertmanager; upstream's tarball, alertmanager."""
        return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

    def missing(self) -> list[str]:
        if self._binary is None:
            return ["the alertmanager binary (Debian package prometheus-alertmanager)"]
        return []

    @property
    def webhook(self) -> str:
        return f"http://{self.settings.host}:{self.settings.gateway_port}/v1/alerts/alertmanager"

    def render_config(self) -> str:
        """The repo's config with the local gateway's address for compose's."""
        text = (self.layout.docker / "alertmanager" / "alertmanager.yml").read_text()
        if COMPOSE_WEBHOOK not in text:
            raise ValueError(f"docker/alertmanager/alertmanager.yml no longer posts to {COMPOSE_WEBHOOK}")
        return text.replace(COMPOSE_WEBHOOK, self.webhook)

    def prepare(self) -> None:
        super().prepare()
        (self.data_dir / "alertmanager.yml").write_text(self.render_config())

    def command(self) -> list[str]:
        s = self.settings
        return [
            self._binary or "prometheus-alertmanager",
            f"--config.file={self.data_dir / 'alertmanager.yml'}",
            f"--storage.path={self.data_dir / 'data'}",
            f"--web.listen-address={s.host}:{s.alertmanager_port}",
            # One instance: no gossip port (it would take 9094 on every address).
            "--cluster.listen-address=",
        ]

    def scrape_targets(self) -> dict[str, list[str]]:
        return {"alertmanager": [f"{self.settings.host}:{self.port}"]}

    def probe(self) -> Health:
        return http_probe(f"{self.url}/-/ready")
