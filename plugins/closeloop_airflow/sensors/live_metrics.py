"""Deferrable sensors on the streaming job's live windows: a canary against the champion, and a new
champion against its predecessor for a while after its promotion."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from closeloop_airflow.triggers.live_metrics import LiveMetricsTrigger, PromotionWatchTrigger

__all__ = ["LiveMetricsSensor", "PromotionWatchSensor"]


def _set(rule: dict[str, Any]) -> dict[str, Any]:
    """The rule's fields that are set: a templated param left empty renders as "None" or ""."""
    return {key: value for key, value in rule.items() if value not in (None, "", "None")}


class _LiveWindowsSensor(BaseSensorOperator):
    model_name: str

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _decide_or_defer(
        self, context: Context, trigger: LiveMetricsTrigger | PromotionWatchTrigger, backstop: timedelta
    ) -> dict[str, Any]:
        """The trigger's verdict at once if the topic holds one already, else wait for it, deferred
        (failed by Airflow after ``backstop``)."""
        payload = trigger.check()
        if payload["status"] != "waiting":
            return self.execute_complete(context, payload)
        self.log.info("%s: %s", self.model_name, payload["reason"])
        self.defer(trigger=trigger, method_name="execute_complete", timeout=backstop)


class LiveMetricsSensor(_LiveWindowsSensor):
    """Wait until both versions have enough labeled examples over the same windows, then decide.

    Returns the verdict (training.live_gate.LiveVerdict as a dict, with
    ``passed`` True or False): the DAG promotes or rolls back on it; the sensor
    itself succeeds either way. It fails, saying what was missing, if no
    decision came by ``timeout`` seconds.

    ``canary``, ``champion``, ``since`` (ISO time, UTC: when the canary
    started serving) and ``wait_minutes`` (how long to wait for a decision, if
    not ``timeout`` seconds) are templated; ``rule`` is a
    training.live_gate.LiveRule as a dict (metric, higher_is_better, margin,
    confidence, min_labeled, ...). With ``fail_on_timeout`` False, a timeout
    returns its payload (``status`` "timeout", ``passed`` None, the reason)
    for the DAG to act on.
    """

    template_fields: Sequence[str] = ("canary", "champion", "since", "rule", "wait_minutes")

    def __init__(
        self,
        *,
        model_name: str,
        canary: str,
        champion: str,
        since: str,
        rule: dict[str, Any],
        topic: str,
        poll_interval: float = 15.0,
        kafka_config_id: str = "kafka_default",
        wait_minutes: str | float | None = None,
        fail_on_timeout: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("timeout", timedelta(hours=2).total_seconds())
        super().__init__(**kwargs)
        self.model_name = model_name
        self.wait_minutes = wait_minutes
        self.fail_on_timeout = fail_on_timeout
        self.canary = canary
        self.champion = champion
        self.since = since
        self.rule = rule
        self.topic = topic
        self.poll_interval = poll_interval
        self.kafka_config_id = kafka_config_id

    def execute(self, context: Context) -> dict[str, Any]:
        started = datetime.fromisoformat(self.since)
        if self.wait_minutes not in (None, ""):
            self.timeout = float(self.wait_minutes) * 60  # type: ignore[arg-type]
        trigger = LiveMetricsTrigger(
            model_name=self.model_name,
            canary=str(self.canary),
            champion=str(self.champion),
            since=started.isoformat(),
            deadline=(datetime.now(UTC) + timedelta(seconds=self.timeout)).isoformat(),
            rule=_set(self.rule),
            topic=self.topic,
            poll_interval=self.poll_interval,
            kafka_config_id=self.kafka_config_id,
        )
        # The trigger says why at its own deadline; Airflow's timeout is the backstop.
        return self._decide_or_defer(
            context, trigger, timedelta(seconds=self.timeout + 4 * self.poll_interval)
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event["status"] == "timeout" and self.fail_on_timeout:
            raise AirflowFailException(f"{self.model_name}: {event['reason']}")
        self.log.info("%s: %s", self.model_name, event["reason"])
        return event


class PromotionWatchSensor(_LiveWindowsSensor):
    """Watch a new ``champion`` for ``watch_seconds`` after ``promoted_at`` (ISO, UTC) against the
    live numbers of ``previous`` before it.

    Returns the verdict (training.live_gate.watch's, as a dict): ``passed``
    False as soon as the champion is shown worse than its predecessor by more
    than the rule's margin (the DAG rolls it back), True when the watch ends
    without that. ``champion``, ``previous``, ``promoted_at`` and ``rule`` are
    templated.
    """

    template_fields: Sequence[str] = ("champion", "previous", "promoted_at", "rule", "watch_seconds")

    def __init__(
        self,
        *,
        model_name: str,
        champion: str,
        previous: str,
        promoted_at: str,
        watch_seconds: str | float,
        rule: dict[str, Any],
        topic: str,
        poll_interval: float = 15.0,
        kafka_config_id: str = "kafka_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_name = model_name
        self.champion = champion
        self.previous = previous
        self.promoted_at = promoted_at
        self.watch_seconds = watch_seconds
        self.rule = rule
        self.topic = topic
        self.poll_interval = poll_interval
        self.kafka_config_id = kafka_config_id

    def execute(self, context: Context) -> dict[str, Any]:
        promoted_at = datetime.fromisoformat(self.promoted_at)
        seconds = float(self.watch_seconds)
        trigger = PromotionWatchTrigger(
            model_name=self.model_name,
            champion=str(self.champion),
            previous=str(self.previous),
            promoted_at=promoted_at.isoformat(),
            until=(promoted_at + timedelta(seconds=seconds)).isoformat(),
            rule=_set(self.rule),
            topic=self.topic,
            poll_interval=self.poll_interval,
            kafka_config_id=self.kafka_config_id,
        )
        # The trigger ends the watch itself; Airflow's timeout is only the backstop.
        return self._decide_or_defer(
            context, trigger, timedelta(seconds=seconds + 10 * self.poll_interval + 300)
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        self.log.info("%s: %s", self.model_name, event["reason"])
        return event
