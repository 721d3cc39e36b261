"""Wait, in the triggerer, on the streaming job's windows: a canary against the champion, or a new
champion against its predecessor after a promotion."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from closeloop.events import MetricsEvent

__all__ = ["LiveMetricsTrigger", "PromotionWatchTrigger", "kafka_bootstrap"]


def kafka_bootstrap(kafka_config_id: str) -> str:
    """A Kafka connection's bootstrap servers (the Kafka provider's ``bootstrap.servers`` in its extra)."""
    servers = BaseHook.get_connection(kafka_config_id).extra_dejson.get("bootstrap.servers")
    if not servers:
        raise ValueError(f"connection {kafka_config_id!r} has no bootstrap.servers in its extra")
    return str(servers)


class _LiveWindowsTrigger(BaseTrigger):
    """Polls ``check()`` in a thread every ``poll_interval`` seconds until it is no longer "waiting"."""

    model_name: str
    topic: str
    kafka_config_id: str
    poll_interval: float
    #: The constructor's keyword arguments, each kept as the attribute of its name.
    fields: tuple[str, ...]

    def serialize(self) -> tuple[str, dict[str, Any]]:
        path = f"{type(self).__module__}.{type(self).__qualname__}"
        return path, {name: getattr(self, name) for name in self.fields}

    def check(self) -> dict[str, Any]:
        raise NotImplementedError

    def _windows(self, since: datetime) -> list[MetricsEvent]:
        """The model's metrics events on ``topic`` from ``since`` to the topic's end."""
        from closeloop.events import MetricsEvent
        from closeloop.kafka.consume import read_since

        events = read_since(kafka_bootstrap(self.kafka_config_id), self.topic, since, expected=MetricsEvent)
        return [e for e in events if isinstance(e, MetricsEvent) and e.model_name == self.model_name]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            payload = await asyncio.to_thread(self.check)
            self.log.info("%s: %s", self.model_name, payload["reason"])
            if payload["status"] != "waiting":
                yield TriggerEvent(payload)
                return
            await asyncio.sleep(self.poll_interval)


class LiveMetricsTrigger(_LiveWindowsTrigger):
    """Fire once the metrics windows since ``since`` decide ``canary`` against ``champion``
    (training.live_gate.judge with ``rule``), or at ``deadline`` with why they did not.

    Every ``poll_interval`` seconds it reads ``topic`` (closeloop.metrics) from
    ``since`` to its end, in a thread so the triggerer's loop stays free: no
    state of its own, so a triggerer restart loses nothing.

    :param rule: a training.live_gate.LiveRule, as a dict.
    :param kafka_config_id: a Kafka connection; the triggerer resolves it.
    """

    fields = (
        "model_name",
        "canary",
        "champion",
        "since",
        "deadline",
        "rule",
        "topic",
        "poll_interval",
        "kafka_config_id",
    )

    def __init__(
        self,
        *,
        model_name: str,
        canary: str,
        champion: str,
        since: str,
        deadline: str,
        rule: dict[str, Any],
        topic: str,
        poll_interval: float = 15.0,
        kafka_config_id: str = "kafka_default",
    ) -> None:
        super().__init__()
        self.model_name = model_name
        self.canary = canary
        self.champion = champion
        self.since = since
        self.deadline = deadline
        self.rule = rule
        self.topic = topic
        self.poll_interval = poll_interval
        self.kafka_config_id = kafka_config_id

    def check(self) -> dict[str, Any]:
        """The verdict on what the topic holds now, as the event's payload (blocking: reads Kafka).

        ``status`` is "decided", "timeout" (past the deadline, undecided) or "waiting".
        """
        from training.live_gate import LiveRule, judge

        events = self._windows(datetime.fromisoformat(self.since))
        verdict = judge(events, canary=self.canary, champion=self.champion, rule=LiveRule(**self.rule))
        payload = verdict.model_dump(mode="json")
        if verdict.decided:
            return {"status": "decided", **payload}
        if datetime.now(UTC) >= datetime.fromisoformat(self.deadline):
            reason = f"no decision by {self.deadline}: {verdict.reason.removeprefix('waiting: ')}"
            return {**payload, "status": "timeout", "reason": reason}
        return {"status": "waiting", **payload}


class PromotionWatchTrigger(_LiveWindowsTrigger):
    """Fire as soon as the new ``champion``'s windows since ``promoted_at`` show it worse than
    ``previous``'s before it (training.live_gate.watch with ``rule``), or at ``until`` with the
    verdict that keeps it.

    The predecessor's windows are read from as far before the promotion as the
    watch lasts after it: its last live numbers, over a span like the one they
    are compared with.
    """

    fields = (
        "model_name",
        "champion",
        "previous",
        "promoted_at",
        "until",
        "rule",
        "topic",
        "poll_interval",
        "kafka_config_id",
    )

    def __init__(
        self,
        *,
        model_name: str,
        champion: str,
        previous: str,
        promoted_at: str,
        until: str,
        rule: dict[str, Any],
        topic: str,
        poll_interval: float = 15.0,
        kafka_config_id: str = "kafka_default",
    ) -> None:
        super().__init__()
        self.model_name = model_name
        self.champion = champion
        self.previous = previous
        self.promoted_at = promoted_at
        self.until = until
        self.rule = rule
        self.topic = topic
        self.poll_interval = poll_interval
        self.kafka_config_id = kafka_config_id

    def check(self) -> dict[str, Any]:
        """The verdict now: "decided" (``passed`` False: roll back; True: the watch is over) or
        "waiting" (blocking: reads Kafka)."""
        from training.live_gate import LiveRule, watch

        promoted_at, until = datetime.fromisoformat(self.promoted_at), datetime.fromisoformat(self.until)
        verdict = watch(
            self._windows(promoted_at - (until - promoted_at)),
            champion=self.champion,
            previous=self.previous,
            promoted_at=promoted_at,
            rule=LiveRule(**self.rule),
            final=datetime.now(UTC) >= until,
            watch_seconds=(until - promoted_at).total_seconds(),
        )
        return {"status": "decided" if verdict.decided else "waiting", **verdict.model_dump(mode="json")}
