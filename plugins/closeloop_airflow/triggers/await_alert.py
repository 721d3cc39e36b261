"""Wait for closeloop alerts about one model: the event trigger behind a retrain DAG's alert asset.

Every model's trigger reads ``closeloop.alerts`` through one shared Kafka
consumer in the triggerer (the Kafka provider's shared-stream trigger), and
each keeps only the alerts about its own model. In that mode the offset of an
alert is committed only once the asset event it became is stored, so a
triggerer crash redelivers the alert instead of losing it (at least once;
the DAG allows one active run per model, and alert ids are stable).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.providers.apache.kafka.triggers.shared_stream import KafkaSharedStreamTrigger
from airflow.triggers.base import TriggerEvent
from airflow.triggers.shared_stream import reject_shared_stream_event

from closeloop.events import AlertEvent, InvalidEventError, decode

__all__ = ["AwaitAlertTrigger", "matching_alert"]

_log = logging.getLogger(__name__)


def matching_alert(
    value: bytes | str | None, model_name: str, kinds: Sequence[str] | None
) -> AlertEvent | None:
    """The alert in ``value`` if it is about ``model_name`` (and of one of ``kinds``, if given).

    Raises InvalidEventError if ``value`` is not an alert at all.
    """
    alert = decode(value or b"", AlertEvent)
    if alert.model_name != model_name or (kinds and alert.kind not in kinds):
        return None
    return alert


class AwaitAlertTrigger(KafkaSharedStreamTrigger):
    """Fire once per alert about ``model_name`` on ``topics`` (normally closeloop.alerts).

    :param model_name: the registered model whose alerts count.
    :param kinds: alert kinds to react to (quality, drift, latency, error_rate,
        feedback_volume); all of them if empty.
    :param kafka_config_id: a Kafka connection with ``enable.auto.commit=false``
        (the shared stream commits offsets itself, after the asset event is stored).
    """

    def __init__(
        self,
        *,
        model_name: str,
        topics: Sequence[str],
        kinds: Sequence[str] = (),
        kafka_config_id: str = "kafka_alerts",
        poll_timeout: float = 1.0,
    ) -> None:
        super().__init__(topics=topics, kafka_config_id=kafka_config_id, poll_timeout=poll_timeout)
        self.model_name = model_name
        self.kinds = sorted(kinds)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "model_name": self.model_name,
                "topics": self.topics,
                "kinds": self.kinds,
                "kafka_config_id": self.kafka_config_id,
                "poll_timeout": self.poll_timeout,
            },
        )

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        async for value in shared_stream:
            try:
                alert = matching_alert(value, self.model_name, self.kinds)
            except InvalidEventError as exc:
                # Not an alert: refusing it lets the stream commit past it; the
                # Flink job only publishes validated alerts, so this is a stray producer.
                _log.warning("not a closeloop alert, skipped: %s", exc)
                reject_shared_stream_event()
                continue
            if alert is not None:
                _log.info("alert %s (%s) for %s", alert.alert_id, alert.kind, self.model_name)
                yield TriggerEvent(alert.model_dump(mode="json"))
