"""Wait, in the triggerer, until the lake holds enough new labeled examples of a model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from closeloop_airflow.hooks.lake import LakeHook

__all__ = ["LabeledDataTrigger"]


class LabeledDataTrigger(BaseTrigger):
    """Fire when ``model_name`` has at least ``min_examples`` labeled examples with feedback since ``since``.

    Counts the lake's Parquet files (partition-pruned by day) every
    ``poll_interval`` seconds, in a thread so the triggerer's loop stays free.
    With ``wait_first`` the first count is one interval away: for a sensor
    that has just counted itself.

    :param lake_conn_id: the connection to the store (LakeHook); the
        triggerer resolves it, so the trigger carries no credentials.
    :param lake_prefix: where the lake lives in the connection's bucket;
        None: the connection's prefix.
    """

    def __init__(
        self,
        *,
        model_name: str,
        min_examples: int,
        since: str | None = None,
        poll_interval: float = 30.0,
        lake_prefix: str | None = None,
        wait_first: bool = False,
        lake_conn_id: str = LakeHook.default_conn_name,
    ) -> None:
        super().__init__()
        self.model_name = model_name
        self.min_examples = min_examples
        self.since = since
        self.poll_interval = poll_interval
        self.lake_prefix = lake_prefix
        self.wait_first = wait_first
        self.lake_conn_id = lake_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "model_name": self.model_name,
                "min_examples": self.min_examples,
                "since": self.since,
                "poll_interval": self.poll_interval,
                "lake_prefix": self.lake_prefix,
                "wait_first": self.wait_first,
                "lake_conn_id": self.lake_conn_id,
            },
        )

    def count(self) -> int:
        """Labeled examples of the model since ``since``, now (blocking: S3 listing and Parquet reads)."""
        since = datetime.fromisoformat(self.since) if self.since else None
        lake = LakeHook(lake_conn_id=self.lake_conn_id).get_lake(self.lake_prefix)
        return lake.count(model_name=self.model_name, since=since)

    def ready(self, count: int) -> dict[str, Any] | None:
        """The event's payload if ``count`` is enough, else None (the sensor's own count uses it too)."""
        if count < self.min_examples:
            return None
        return {"status": "ready", "count": count, "since": self.since}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        if self.wait_first:
            await asyncio.sleep(self.poll_interval)
        while True:
            count = await asyncio.to_thread(self.count)
            self.log.info(
                "%s: %d of %d labeled examples since %s",
                self.model_name,
                count,
                self.min_examples,
                self.since,
            )
            if (payload := self.ready(count)) is not None:
                yield TriggerEvent(payload)
                return
            await asyncio.sleep(self.poll_interval)
