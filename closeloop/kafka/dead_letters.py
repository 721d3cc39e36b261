"""Dead letters: the event for a Kafka message that did not meet its contract, and a producer of them."""

from __future__ import annotations

import logging

from confluent_kafka import Message, Producer

from closeloop.events import DeadLetterEvent, InvalidEventError, encode

__all__ = ["DeadLetterProducer", "dead_letter"]

_log = logging.getLogger(__name__)


def dead_letter(
    message: Message, error: InvalidEventError, *, topic: str, rejected_by: str
) -> DeadLetterEvent:
    """``message`` kept whole (bytes, key, where it was read) with ``error``'s field and reason.

    ``topic`` is where the message was read, for a message that does not say.
    """
    return DeadLetterEvent.wrap(
        message.value() or b"",
        reason=str(error),
        field=error.field,
        source_topic=message.topic() or topic,
        partition=message.partition(),
        offset=message.offset(),
        key=message.key(),
        rejected_by=rejected_by,
    )


class DeadLetterProducer:
    """An ``on_invalid`` for :class:`~closeloop.kafka.consume.EventFollower`: each bad message, logged,
    to the dead-letter topic. Produced without waiting; :meth:`close` waits for what is in flight."""

    def __init__(self, bootstrap: str, *, dlq_topic: str, source_topic: str, rejected_by: str) -> None:
        self.dlq_topic = dlq_topic
        self.source_topic = source_topic
        self.rejected_by = rejected_by
        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "enable.idempotence": True, "log_level": 3}
        )

    def __call__(self, message: Message, error: InvalidEventError) -> None:
        _log.warning(
            "%s: not a valid event at %s[%s]@%s, to %s: %s",
            self.rejected_by,
            message.topic(),
            message.partition(),
            message.offset(),
            self.dlq_topic,
            error,
        )
        letter = dead_letter(message, error, topic=self.source_topic, rejected_by=self.rejected_by)
        self._producer.produce(self.dlq_topic, key=letter.key(), value=encode(letter))
        self._producer.poll(0)

    def close(self, timeout_s: float = 10.0) -> None:
        if remaining := self._producer.flush(timeout_s):
            _log.error("%d dead letter(s) to %s not acknowledged", remaining, self.dlq_topic)
