"""The preprocessing job's one Python function: a raw event to the row its sink writes.

It runs once per raw event, in the TaskManager's JVM by default (PyFlink's
thread mode; see PreprocessJobSettings.preprocess_python_mode): the work
per event (decoding and resampling a recording, re-encoding an image) is
large beside the call, so a row function costs little over a vectorized one
and keeps each event's failure its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyflink.common import Row
from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from closeloop.media.normalize import RawInput
from closeloop.media.preprocess import Fetch, preprocess
from closeloop.preprocessing.routing import DEAD_LETTER, REQUEST, routed
from closeloop.raw_inputs import RawInputStore
from closeloop.s3 import minio_client

__all__ = ["RESULT_TYPE", "PreprocessRaw", "preprocess_raw"]

RESULT_TYPE = DataTypes.ROW(
    [
        DataTypes.FIELD("kind", DataTypes.STRING()),
        DataTypes.FIELD("k", DataTypes.STRING()),
        DataTypes.FIELD("v", DataTypes.STRING()),
    ]
)


class PreprocessRaw(ScalarFunction):
    """``preprocess`` with the specs and the store it needs, and a count of what it made."""

    def __init__(
        self,
        inputs: Mapping[str, RawInput],
        *,
        source_topic: str,
        s3_endpoint: str,
        s3_access_key: str,
        s3_secret_key: str,
        bucket: str,
    ) -> None:
        self.inputs = dict(inputs)
        self.source_topic = source_topic
        self._s3 = (s3_endpoint, s3_access_key, s3_secret_key)
        self._bucket = bucket
        self._fetch: Fetch | None = None
        self._counters: dict[str, Any] = {}

    def open(self, function_context: FunctionContext) -> None:
        # A store that is away fails a read within seconds: the event goes to the dead
        # letters with the reason rather than holding up every event behind it.
        store = RawInputStore(minio_client(*self._s3, timeout_s=10.0), self._bucket)
        self._fetch = store.read
        group = function_context.get_metric_group().add_group("closeloop")
        self._counters = {kind: group.counter(f"preprocess_{kind}s") for kind in (REQUEST, DEAD_LETTER)}

    def eval(self, key: str | None, body: bytes | None, partition: int, offset: int) -> Row:
        assert self._fetch is not None, "open() first"
        outcome = preprocess(
            body or b"",
            self.inputs,
            self._fetch,
            source_topic=self.source_topic,
            partition=partition,
            offset=offset,
            key=key,
        )
        kind, k, v = routed(outcome)
        if counter := self._counters.get(kind):
            counter.inc()
        return Row(kind, k, v)


def preprocess_raw(function: PreprocessRaw):  # PyFlink's UserDefinedFunctionWrapper, untyped
    """``function`` as the SQL function the job's statements call."""
    return udf(function, result_type=RESULT_TYPE)
