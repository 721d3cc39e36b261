"""Keep each served model at its champion: model-update events first, polling as the fallback."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, Message

from closeloop.events import InvalidEventError, ModelUpdateEvent, decode
from closeloop.gateway.champions import ChampionPool

__all__ = ["ChampionWatcher"]

_log = logging.getLogger(__name__)


class ChampionWatcher:
    """Two daemon threads: one reads closeloop.model-updates, one polls the registry."""

    def __init__(
        self,
        pool: ChampionPool,
        *,
        bootstrap: str,
        topic: str,
        poll_interval_s: float,
        on_invalid: Callable[[Message, InvalidEventError], None] | None = None,
    ) -> None:
        self._pool = pool
        self._bootstrap = bootstrap
        self._topic = topic
        self._poll_interval_s = poll_interval_s
        self._on_invalid = on_invalid
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for name, target in (("model-updates", self._listen), ("alias-poll", self._poll)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def handle(self, event: ModelUpdateEvent) -> None:
        if event.alias == self._pool.alias:
            self._pool.load_in_background(event.model_name, event.version)

    def _listen(self) -> None:
        # Every replica must see every update: a group of its own, from now on.
        consumer = Consumer(
            {
                "bootstrap.servers": self._bootstrap,
                "group.id": f"closeloop-gateway-{uuid.uuid4().hex}",
                "auto.offset.reset": "latest",
                "enable.auto.commit": False,
                "log_level": 3,
            }
        )
        consumer.subscribe([self._topic])
        try:
            while not self._stopping.is_set():
                try:
                    message = consumer.poll(0.5)
                except KafkaException as exc:
                    _log.warning("model-update consumer: %s", exc)
                    continue
                if message is None or message.error() is not None:
                    continue
                try:
                    event = decode(message.value() or b"", ModelUpdateEvent)
                except InvalidEventError as exc:
                    _log.warning(
                        "invalid model update at %s[%d]@%d: %s",
                        message.topic(),
                        message.partition(),
                        message.offset(),
                        exc,
                    )
                    if self._on_invalid is not None:
                        self._on_invalid(message, exc)
                    continue
                self.handle(event)
        finally:
            consumer.close()

    def _poll(self) -> None:
        while not self._stopping.wait(self._poll_interval_s):
            for model in self._pool.models():
                try:
                    self._pool.load(model.name)
                except Exception:  # polling must survive a registry hiccup
                    _log.exception("polling the champion of %s failed", model.name)
