"""A deferrable sensor: judge a canary against the champion on the streaming job's live windows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from closeloop_airflow.triggers.live_metrics import LiveMetricsTrigger

__all__ = ["LiveMetricsSensor"]


class LiveMetricsSensor(BaseSensorOperator):
    """Wait until both versions have enough labeled examples over the same windows, then decide.

    Returns the verdict (training.live_gate.LiveVerdict as a dict, with
    ``passed`` True or False): the DAG promotes or rolls back on it; the sensor
    itself succeeds either way. It fails, saying what was missing, if no
    decision came by ``timeout`` seconds.

    ``canary``, ``champion`` and ``since`` (ISO time, UTC: when the canary
    started serving) are templated; ``rule`` is a training.live_gate.LiveRule
    as a dict (metric, higher_is_better, margin, confidence, min_labeled, ...).
    """

    template_fields: Sequence[str] = ("canary", "champion", "since", "rule")

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
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("timeout", timedelta(hours=2).total_seconds())
        super().__init__(**kwargs)
        self.model_name = model_name
        self.canary = canary
        self.champion = champion
        self.since = since
        self.rule = rule
        self.topic = topic
        self.poll_interval = poll_interval
        self.kafka_config_id = kafka_config_id

    def execute(self, context: Context) -> dict[str, Any]:
        started = datetime.fromisoformat(self.since)
        trigger = LiveMetricsTrigger(
            model_name=self.model_name,
            canary=str(self.canary),
            champion=str(self.champion),
            since=started.isoformat(),
            deadline=(datetime.now(UTC) + timedelta(seconds=self.timeout)).isoformat(),
            rule=dict(self.rule),
            topic=self.topic,
            poll_interval=self.poll_interval,
            kafka_config_id=self.kafka_config_id,
        )
        payload = trigger.check()
        if payload["status"] != "waiting":
            return self.execute_complete(context, payload)
        self.log.info("%s: %s", self.model_name, payload["reason"])
        # The trigger says why at its own deadline; Airflow's timeout is the backstop.
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + 4 * self.poll_interval),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event["status"] == "timeout":
            raise AirflowFailException(f"{self.model_name}: {event['reason']}")
        self.log.info("%s: %s", self.model_name, event["reason"])
        return event
