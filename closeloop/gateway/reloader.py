"""Keep each served model at its champion: model-update events first, polling as the fallback."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from confluent_kafka import Message

from closeloop.events import Event, ModelUpdateEvent
from closeloop.gateway.champions import ChampionPool
from closeloop.kafka.consume import EventFollower, InvalidHandler

if TYPE_CHECKING:
    from closeloop.gateway.settings import GatewaySettings as Settings

__all__ = ["ChampionWatcher"]

_log = logging.getLogger(__name__)


class ChampionWatcher:
    """Two daemon threads: one follows closeloop.model-updates, one polls the registry."""

    def __init__(
        self,
        pool: ChampionPool,
        *,
        bootstrap: str,
        topic: str,
        poll_interval_s: float,
        on_invalid: InvalidHandler | None = None,
        name: str = "gateway",
        discover: bool = False,
    ) -> None:
        """With ``discover``, the watcher polls at once, and each poll also loads models that got
        the alias since (canaries come and go; champions are found at start and on first request)."""
        self._pool = pool
        self._discover = discover
        self._poll_interval_s = poll_interval_s
        # Every replica must see every update: from now on, in no group.
        self._updates = EventFollower(
            bootstrap, [topic], name=f"{name}-model-updates", expected=ModelUpdateEvent, on_invalid=on_invalid
        )
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="alias-poll", daemon=True)

    @classmethod
    def from_settings(
        cls,
        pool: ChampionPool,
        settings: Settings,
        *,
        on_invalid: InvalidHandler | None,
        name: str,
        discover: bool = False,
    ) -> ChampionWatcher:
        """A watcher on ``settings``' broker and model-updates topic, polling at its reload interval."""
        return cls(
            pool,
            bootstrap=settings.kafka_bootstrap,
            topic=settings.topics.model_updates,
            poll_interval_s=settings.reload_poll_s,
            on_invalid=on_invalid,
            name=name,
            discover=discover,
        )

    def start(self) -> None:
        self._updates.start(self._on_update)
        self._poller.start()

    def stop(self) -> None:
        self._stopping.set()
        self._updates.stop(timeout_s=5)
        if self._poller.is_alive():
            self._poller.join(timeout=5)

    def handle(self, event: ModelUpdateEvent) -> None:
        if event.alias != self._pool.alias:
            return
        # A removed alias names the version it left: the registry says what, if anything, serves now.
        self._pool.load_in_background(event.model_name, None if event.removed else event.version)

    def _on_update(self, event: Event, _message: Message) -> None:
        assert isinstance(event, ModelUpdateEvent)  # the follower expects nothing else
        self.handle(event)

    def _poll(self) -> None:
        # A discovering watcher looks at once: nothing else finds what already has the alias.
        if self._discover:
            self._poll_once()
        while not self._stopping.wait(self._poll_interval_s):
            self._poll_once()

    def _poll_once(self) -> None:
        names = {model.name for model in self._pool.models()}
        if self._discover:
            try:
                names.update(self._pool.discover())
            except Exception:  # polling must survive a registry hiccup
                _log.exception("looking for models with the %r alias failed", self._pool.alias)
        for name in sorted(names):
            try:
                self._pool.load(name)
            except Exception:  # polling must survive a registry hiccup
                _log.exception("polling the %r alias of %s failed", self._pool.alias, name)
