"""take_batch: what has arrived, without waiting for a full batch once something has."""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import KafkaError

from closeloop.kafka.consume import take_batch


@dataclass
class _Message:
    name: str
    eof: bool = False

    def error(self) -> KafkaError | None:
        return KafkaError(KafkaError._PARTITION_EOF) if self.eof else None


@dataclass
class _Consumer:
    """Queued messages; ``poll`` hands over the next one to arrive, as a broker would."""

    queued: list[_Message] = field(default_factory=list)
    arriving: list[_Message] = field(default_factory=list)
    calls: list[tuple[str, float]] = field(default_factory=list)

    def consume(self, n: int, timeout: float) -> list[_Message]:
        self.calls.append(("consume", timeout))
        taken, self.queued = self.queued[:n], self.queued[n:]
        return taken

    def poll(self, timeout: float) -> _Message | None:
        self.calls.append(("poll", timeout))
        if not self.arriving:
            return None
        first, *rest = self.arriving
        self.queued += rest
        self.arriving = []
        return first


def test_what_is_queued_is_taken_at_once_up_to_the_batch() -> None:
    consumer = _Consumer(queued=[_Message(str(i)) for i in range(5)])
    assert [m.name for m in take_batch(consumer, 3, 1.0)] == ["0", "1", "2"]
    assert consumer.calls == [("consume", 0)]


def test_a_quiet_topic_waits_only_for_the_first_message_then_takes_what_came_with_it() -> None:
    consumer = _Consumer(arriving=[_Message("a"), _Message("b"), _Message("eof", eof=True)])
    assert [m.name for m in take_batch(consumer, 10, 2.5)] == ["a", "b"]
    assert consumer.calls == [("consume", 0), ("poll", 2.5), ("consume", 0)]


def test_nothing_within_the_timeout_is_an_empty_batch() -> None:
    assert take_batch(_Consumer(), 10, 0.1) == []
