"""The gateway's publisher without a broker: what it answers, what it keeps on disk, when it renews.

librdkafka can stay wedged after a broker restart; a producer that cannot reach
any broker for longer than ``renew_after_s`` while events wait on disk is
replaced. Nothing listens on the port here, so the producer never connects.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from prometheus_client import CollectorRegistry

from closeloop.events import FeedbackEvent
from closeloop.gateway import publisher as publisher_module
from closeloop.gateway.publisher import EventPublisher, EventTooLargeError
from closeloop.gateway.spool import DiskSpool, SpoolFullError


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unreachable_publisher(tmp_path: Path, spool_max_bytes: int = 1 << 20) -> EventPublisher:
    """A publisher whose producer never connects, quick to give up on it."""
    return EventPublisher(
        bootstrap=f"127.0.0.1:{closed_port()}",
        spool=DiskSpool(tmp_path / "spool", max_bytes=spool_max_bytes),
        max_event_bytes=2000,
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
        publisher.send_and_wait("closeloop.feedback", [event])
        assert publisher.spooled == 1, "answered only once the event is on disk"
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


def test_an_event_larger_than_kafka_takes_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    publisher = unreachable_publisher(tmp_path)
    small = FeedbackEvent(prediction_id="p-1", ground_truth=1)
    big = FeedbackEvent(prediction_id="p-2", ground_truth="x" * 3000)
    try:
        with pytest.raises(EventTooLargeError) as refused:
            publisher.send_and_wait("closeloop.feedback", [small, big])
        assert refused.value.index == 1 and refused.value.limit == 2000
        assert refused.value.size > 3000
        assert publisher.spooled == 0, "neither event was taken"
    finally:
        publisher.close(timeout=1)


def test_with_kafka_away_and_the_spool_full_a_send_fails_and_then_refuses_at_once(tmp_path: Path) -> None:
    publisher = unreachable_publisher(tmp_path, spool_max_bytes=600)
    event = FeedbackEvent(prediction_id="p-1", ground_truth="y" * 200)
    try:
        publisher.start()
        publisher.send_and_wait("closeloop.feedback", [event])  # fits
        with pytest.raises(SpoolFullError, match="limit is 600"):
            publisher.send_and_wait("closeloop.feedback", [event, event])
        assert publisher.spooled == 1
        assert publisher.spool_is_full is False  # nearly: what did not fit was refused whole
        with pytest.raises(SpoolFullError):
            publisher.send_and_wait("closeloop.feedback", [event, event])
        refused = publisher.events.labels("closeloop.feedback", "refused")._value.get()
        assert refused == 4
    finally:
        publisher.close(timeout=1)


def test_what_a_full_producer_queue_cannot_take_is_spooled_and_the_send_waits_for_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Room for two messages: the third of one request raises BufferError part way.
    monkeypatch.setattr(
        publisher_module, "Producer", lambda conf: Producer({**conf, "queue.buffering.max.messages": 2})
    )
    publisher = unreachable_publisher(tmp_path)
    events = [FeedbackEvent(prediction_id=f"p-{n}", ground_truth=n) for n in range(5)]
    try:
        publisher.start()
        asyncio.run(asyncio.wait_for(publisher.send("closeloop.feedback", events), 60))
        # Three spooled at once; the two the producer took are spooled once they time out.
        assert publisher.spooled == 5, "the send returned before every event was durable"
        assert publisher.degraded
        spooled = publisher.events.labels("closeloop.feedback", "spooled")._value.get()
        assert spooled == 5
    finally:
        publisher.close(timeout=1)
