"""Publish one closeloop event to Kafka, checked against its contract first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

__all__ = ["PublishEventOperator"]


class PublishEventOperator(BaseOperator):
    """Validate ``event`` (a dict with its ``schema`` field), then produce it to ``topic`` with its key.

    ``event`` is templated, so it can be an upstream task's XCom. ``None``
    publishes nothing (say, a gate that did not promote), and the task
    succeeds with a log line saying so. Waits for the broker's
    acknowledgement: the task fails (PublishError) if the event did not land.

    :param topic: the Kafka topic, e.g. closeloop.model-updates.
    :param event: the event as JSON data.
    :param kafka_config_id: the Airflow connection to Kafka.
    """

    template_fields: Sequence[str] = ("topic", "event")

    def __init__(
        self,
        *,
        topic: str,
        event: dict[str, Any] | str | None,
        kafka_config_id: str = "kafka_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.topic = topic
        self.event = event
        self.kafka_config_id = kafka_config_id

    def execute(self, context: Context) -> str | None:
        from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook

        from closeloop.events import decode
        from closeloop.kafka.publish import deliver

        if not self.event:
            self.log.info("nothing to publish to %s", self.topic)
            return None
        raw = self.event if isinstance(self.event, str) else json.dumps(self.event)
        event = decode(raw)
        producer = KafkaProducerHook(kafka_config_id=self.kafka_config_id).get_producer()
        deliver(producer, self.topic, [event], where=f"connection {self.kafka_config_id!r}")
        self.log.info("published %s to %s, key %s", event.SCHEMA, self.topic, event.key())
        return event.key()
