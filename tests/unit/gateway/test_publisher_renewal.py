"""The gateway's publisher builds a new Kafka producer when the old one stays unreachable.

librdkafka can stay wedged after a broker restart; a producer that cannot reach
any broker for longer than ``renew_after_s`` while events wait on disk is
replaced. Nothing listens on the port here, so the producer never connects.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from closeloop.events import FeedbackEvent
from closeloop.gateway.publisher import EventPublisher
from closeloop.gateway.spool import DiskSpool


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unreachable_publisher(tmp_path: Path) -> EventPublisher:
    """A publisher whose producer never connects, quick to give up on it."""
    return EventPublisher(
        bootstrap=f"127.0.0.1:{closed_port()}",
        spool=DiskSpool(tmp_path / "spool"),
        registry=CollectorRegistry(),
        delivery_timeout_ms=500,
        replay_interval_s=0.1,
        renew_after_s=0.5,
    )


def test_a_producer_unreachable_for_long_is_replaced_and_nothing_is_lost(tmp_path: Path) -> None:
    publisher = unreachable_publisher(tmp_path)
    try:
        publisher.start()
        event = FeedbackEvent(prediction_id="p-1", ground_truth=3)
        publisher.publish("closeloop.feedback", [event])
        deadline = time.monotonic() + 30
        while publisher.renewals == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert publisher.renewals >= 1, "the producer was never replaced"
        assert publisher.degraded and publisher.spooled == 1, "the event must wait on disk, not be lost"
        assert not publisher.kafka_reachable()
    finally:
        publisher.close(timeout=1)


def test_a_reachable_or_idle_publisher_keeps_its_producer(tmp_path: Path) -> None:
    publisher = unreachable_publisher(tmp_path)
    try:
        publisher.start()
        for _ in range(3):  # unreachable, but with nothing waiting there is no reason to renew
            publisher._checked_at = -1e9
            publisher.kafka_reachable()
            time.sleep(0.3)
        time.sleep(0.5)
        assert publisher.renewals == 0
    finally:
        publisher.close(timeout=1)
