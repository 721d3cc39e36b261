"""``python -m closeloop.inference``: stream inference as a service, with /metrics for Prometheus.

Replicas started with the same ``CLOSELOOP_INFERENCE_GROUP`` share the
requests topic's partitions; each follows model-update events to swap its
champions, as the gateway does.
"""

from __future__ import annotations

import logging
import os
import signal

from prometheus_client import CollectorRegistry, start_http_server

from closeloop.gateway.canary import watched_canaries
from closeloop.gateway.champions import ChampionPool
from closeloop.gateway.reloader import ChampionWatcher
from closeloop.inference.settings import InferenceSettings
from closeloop.inference.stream import StreamInference
from closeloop.kafka.dead_letters import DeadLetterProducer
from closeloop.process_metrics import register_process_metrics
from closeloop.raw_inputs import RawInputStore

_log = logging.getLogger("closeloop.inference")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = InferenceSettings.load()
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(settings.registry_timeout_s))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    registry = CollectorRegistry()
    register_process_metrics(registry)
    pool = ChampionPool(
        tracking_uri=settings.mlflow_tracking_uri,
        alias=settings.champion_alias,
        registry=registry,
        cache=settings.state / "inference" / "models",
        scores=settings.scores,
        metrics_prefix="closeloop_inference",
    )
    on_invalid = DeadLetterProducer(
        settings.kafka_bootstrap,
        dlq_topic=settings.topics.dlq,
        source_topic=settings.topics.model_updates,
        rejected_by="inference",
    )
    watcher = ChampionWatcher.from_settings(pool, settings, on_invalid=on_invalid, name="inference")
    canaries, canary_watcher = watched_canaries(
        settings,
        registry=registry,
        cache=settings.state / "inference" / "models",
        metrics_prefix="closeloop_inference_canary",
        name="inference-canary",
        on_invalid=on_invalid,
    )
    service = StreamInference(
        pool,
        bootstrap=settings.kafka_bootstrap,
        topics=settings.topics,
        group=settings.inference_group,
        registry=registry,
        raw_store=RawInputStore.from_settings(
            settings, inline_bytes=settings.raw_inline_bytes, timeout_s=settings.registry_timeout_s
        ),
        batch_size=settings.inference_batch,
        canaries=canaries,
    )
    start_http_server(settings.inference_port, addr=settings.host, registry=registry)
    _log.info(
        "answering %s in group %s; /metrics on %s:%s",
        settings.topics.requests,
        settings.inference_group,
        settings.host,
        settings.inference_port,
    )
    watcher.start()
    canary_watcher.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop())
    try:
        service.run()  # champions load on their first request, or when an update names them
    finally:
        watcher.stop()
        canary_watcher.stop()


if __name__ == "__main__":
    main()
