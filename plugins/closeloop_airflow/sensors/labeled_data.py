"""A deferrable sensor: hold a retrain until there is enough new labeled data to learn from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context

from closeloop_airflow.hooks.lake import LakeHook
from closeloop_airflow.triggers.labeled_data import LabeledDataTrigger

__all__ = ["WaitForLabeledDataSensor"]


class WaitForLabeledDataSensor(BaseSensorOperator):
    """Succeed once ``model_name`` has ``min_examples`` labeled examples since ``since`` (ISO time, UTC).

    Counts once itself; if that is short, waits in the triggerer, not in a
    worker slot. ``min_examples`` of 0 (or less) succeeds at once, so a DAG can
    make the wait optional through a Param.
    ``since`` is templated: a DAG passes the current champion's training time,
    making this "N new labeled examples since the last retrain".

    :param lake_conn_id: the connection to the store holding the lake (LakeHook).
    :param lake_prefix: where the lake lives in the connection's bucket;
        None: the connection's prefix.
    """

    template_fields: Sequence[str] = ("model_name", "min_examples", "since")

    def __init__(
        self,
        *,
        model_name: str,
        min_examples: int | str,
        since: str | None = None,
        poll_interval: float = 30.0,
        lake_prefix: str | None = None,
        lake_conn_id: str = LakeHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("timeout", timedelta(hours=12).total_seconds())
        super().__init__(**kwargs)
        self.model_name = model_name
        self.min_examples = min_examples
        self.since = since
        self.poll_interval = poll_interval
        self.lake_prefix = lake_prefix
        self.lake_conn_id = lake_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        if int(self.min_examples) <= 0:
            self.log.info("no minimum of labeled examples asked for: not waiting")
            return {"status": "skipped", "count": None, "since": self.since}
        trigger = LabeledDataTrigger(
            model_name=self.model_name,
            min_examples=int(self.min_examples),
            since=self.since or None,
            poll_interval=self.poll_interval,
            lake_prefix=self.lake_prefix,
            wait_first=True,
            # The triggerer counts through the same connection, resolved on its side.
            lake_conn_id=self.lake_conn_id,
        )
        # Labels that are already there need no trip through the triggerer. And a
        # trigger that fires seconds after the deferral lets Airflow 3.3's scheduler
        # fail the resumed task on the deferring worker's late exit event
        # (apache/airflow#71580): counted here, the trigger's first count is an interval later.
        count = trigger.count()
        if (payload := trigger.ready(count)) is not None:
            return self.execute_complete(context, payload)
        self.log.info("%s: %d of %d labeled examples: waiting", self.model_name, count, trigger.min_examples)
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timedelta(seconds=self.timeout))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        self.log.info("%s: %s labeled examples since %s", self.model_name, event["count"], event["since"])
        return event
