"""What every route of the gateway works with, built when the app starts: the champions, the publisher,
the model-update watcher and the metrics."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from confluent_kafka import Message
from fastapi import Request

from closeloop.errors import CloseloopError
from closeloop.events import InvalidEventError
from closeloop.gateway.alertmanager import RecentIds
from closeloop.gateway.canary import CanaryRouter, watched_canaries
from closeloop.gateway.champions import ChampionPool
from closeloop.gateway.metrics import GatewayMetrics
from closeloop.gateway.publisher import EventPublisher
from closeloop.gateway.reloader import ChampionWatcher
from closeloop.gateway.settings import GatewaySettings
from closeloop.gateway.spool import DiskSpool
from closeloop.kafka.dead_letters import dead_letter
from closeloop.raw_inputs import RawInputStore

__all__ = ["Gateway", "gateway_of"]

_log = logging.getLogger("closeloop.gateway")


@dataclass
class Gateway:
    settings: GatewaySettings
    metrics: GatewayMetrics
    pool: ChampionPool
    publisher: EventPublisher
    watcher: ChampionWatcher
    #: The canaries' pool, its watcher, and the share of traffic each gets.
    canaries: CanaryRouter
    canary_watcher: ChampionWatcher
    #: Alert ids this process published from Alertmanager's webhook.
    published_alerts: RecentIds
    #: Where raw inputs too large for an event go.
    raw_store: RawInputStore

    @classmethod
    def build(cls, settings: GatewaySettings, metrics: GatewayMetrics) -> Gateway:
        # MLflow retries a failed call for minutes by default: the gateway would say nothing of a
        # registry that is down until then. Its own environment still wins.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(settings.registry_timeout_s))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        pool = ChampionPool(
            tracking_uri=settings.mlflow_tracking_uri,
            alias=settings.champion_alias,
            registry=metrics.registry,
            cache=settings.model_cache,
            scores=settings.scores,
        )
        publisher = EventPublisher(
            bootstrap=settings.kafka_bootstrap,
            spool=DiskSpool(settings.spool, max_bytes=settings.spool_max_bytes),
            registry=metrics.registry,
            dead_letter_topic=settings.topics.dlq,
            max_event_bytes=settings.max_event_bytes,
            delivery_timeout_ms=settings.delivery_timeout_ms,
        )

        def on_invalid(message: Message, error: InvalidEventError) -> None:
            letter = dead_letter(message, error, topic=settings.topics.model_updates, rejected_by="gateway")
            try:
                publisher.send_and_wait(settings.topics.dlq, [letter])
            except CloseloopError as exc:
                _log.error("a dead letter for %s was not published: %s", settings.topics.model_updates, exc)

        watcher = ChampionWatcher.from_settings(pool, settings, on_invalid=on_invalid, name="gateway")
        canaries, canary_watcher = watched_canaries(
            settings,
            registry=metrics.registry,
            cache=settings.model_cache,
            metrics_prefix="closeloop_gateway_canary",
            name="gateway-canary",
            on_invalid=on_invalid,
        )
        raw_store = RawInputStore.from_settings(
            settings, inline_bytes=settings.raw_inline_bytes, timeout_s=settings.registry_timeout_s
        )
        return cls(
            settings,
            metrics,
            pool,
            publisher,
            watcher,
            canaries,
            canary_watcher,
            RecentIds(),
            raw_store,
        )

    def start(self) -> None:
        self.publisher.start()
        names = list(self.settings.models)
        if not names:
            try:
                names = self.pool.discover()
            except Exception as exc:  # MLflow down at start: models load on first request
                _log.error("cannot list models in MLflow at %s: %s", self.settings.mlflow_tracking_uri, exc)
        for name in names:
            self.pool.load_in_background(name)
        self.watcher.start()
        # Its first poll, in its own thread, finds the canaries: a registry that is away at start
        # must not hold the gateway up.
        self.canary_watcher.start()

    def stop(self) -> None:
        self.canary_watcher.stop()
        self.watcher.stop()
        self.publisher.close()


def gateway_of(request: Request) -> Gateway:
    """The app's gateway. A plain call rather than a FastAPI dependency: dependencies cost more per
    request than the model does."""
    return request.app.state.gateway
