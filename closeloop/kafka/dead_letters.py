"""The dead-letter event for a Kafka message that did not meet its contract."""

from __future__ import annotations

from confluent_kafka import Message

from closeloop.events import DeadLetterEvent, InvalidEventError

__all__ = ["dead_letter"]


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
