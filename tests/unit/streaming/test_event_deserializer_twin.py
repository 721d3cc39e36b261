"""The front's reading of a Kafka record (io.closeloop.flink.EventDeserializer) against Python's.

The job's front parses each record once, in its source, into the row its keyed
step and its SQL read. The oracle is the contract's own decoder
(``closeloop.events.decode``): an event it accepts becomes a row whose members
are the decoded event's (a string unquoted, any other value as JSON), whose
time is its ``ts`` (Kafka's time where it has none), and which names no
problem; one it refuses names the field it refuses first. The contract's rules
have their own twin test (test_event_contract_twin.py); this one holds the
columns and the time checks.

It needs Flink on the class path (PyFlink's jars and the Kafka connector).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from closeloop.events import FeedbackEvent, InvalidEventError, PredictionEvent, decode, encode
from closeloop.events.models import Event
from closeloop.stack.layout import Layout
from closeloop.stack.settings import StackSettings
from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.stages.checks import (
    feedback_rules,
    future_problem,
    members,
    prediction_rules,
    rules_json,
)
from tests.unit.streaming.jvm import FUNCTIONS_JAR, JvmTwin

SETTINGS = FeedbackJobSettings(_env_file=None)  # type: ignore[call-arg]
AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
KAFKA_MS = int((AT + timedelta(seconds=2)).timestamp() * 1000)
SKEW_MS = SETTINGS.max_clock_skew_s * 1000
RULES = {PredictionEvent: prediction_rules(), FeedbackEvent: feedback_rules()}
KIND = {PredictionEvent: "prediction", FeedbackEvent: "feedback"}


@pytest.fixture(scope="module")
def flink_jvm() -> Iterator[JvmTwin]:
    layout = Layout.from_settings(StackSettings())
    flink = sorted((layout.pyflink / "lib").glob("*.jar"))
    if not flink or not FUNCTIONS_JAR.exists():
        pytest.fail(f"no Flink jars under {layout.pyflink} or no {FUNCTIONS_JAR}: run `make setup`")
    twin = JvmTwin(FUNCTIONS_JAR, classpath=[*flink, *sorted(layout.flink_connectors.glob("*.jar"))])
    yield twin
    twin.close()


def _prediction(**change: Any) -> dict[str, Any]:
    event = PredictionEvent(
        prediction_id="p-1",
        model_name="clf",
        model_version="3",
        task="classification",
        inputs={"x": 1.5, "name": 'ünï "q"', "y": [1, 2]},
        output="cat",
        latency_ms=12.5,
        ts=AT,
    )
    return _changed(json.loads(encode(event)), change)


def _feedback(**change: Any) -> dict[str, Any]:
    event = FeedbackEvent(prediction_id="p-1", ground_truth={"box": [1, 2.5]}, feedback_id="f-1", ts=AT)
    return _changed(json.loads(encode(event)), change)


def _changed(doc: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    for key, value in change.items():
        if value is ...:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def _read(twin: JvmTwin, contract: type[Event], value: bytes, key: str | None = "k-1") -> dict[str, Any]:
    answer = twin.call(
        "event",
        KIND[contract],
        ",".join(members(contract)),
        rules_json(RULES[contract]),
        str(SKEW_MS),
        future_problem(SETTINGS),
        base64.b64encode(value).decode(),
        str(KAFKA_MS),
        key,
    )
    assert isinstance(answer, dict)
    return answer


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _millis(t: datetime) -> int:
    return int(t.timestamp() * 1000)


CASES: list[tuple[type[Event], dict[str, Any]]] = [
    (PredictionEvent, _prediction()),
    (PredictionEvent, _prediction(output=3, features={"f": 0.25})),
    (PredictionEvent, _prediction(task="regression", output=2.5, latency_ms=0, model_name="日本")),
    (PredictionEvent, _prediction(output=None, error="boom")),
    (PredictionEvent, _prediction(latency_ms=1e-3, ts=...)),
    (FeedbackEvent, _feedback()),
    (FeedbackEvent, _feedback(feedback_id=..., source="labeler", ground_truth="3")),
    (FeedbackEvent, _feedback(ground_truth=False, model_name="clf")),
    (FeedbackEvent, _feedback(ground_truth='dé \\ "jà"', task="ocr")),
]


@pytest.mark.parametrize(("contract", "doc"), CASES, ids=repr)
def test_a_valid_event_reads_as_python_decodes_it(
    flink_jvm: JvmTwin, contract: type[Event], doc: dict[str, Any]
) -> None:
    value = json.dumps(doc, ensure_ascii=False).encode()
    event = decode(value, contract)
    row = _read(flink_jvm, contract, value)
    assert row["problem"] is None
    assert (row["kind"], row["partition"], row["offset"]) == (KIND[contract], 1, 42)
    # The key and the original, for a dead letter (a late event is one).
    assert (row["message_key"], row["body"]) == ("k-1", value.decode())
    assert row["pid"] == event.prediction_id
    assert row["event_ts"] == (_millis(event.ts) if "ts" in doc else KAFKA_MS)
    if isinstance(event, PredictionEvent):
        assert (row["model_name"], row["model_version"], row["task"]) == (
            event.model_name,
            event.model_version,
            event.task,
        )
        assert row["error"] == event.error
        assert (None if row["output"] is None else json.loads(row["output"])) == (
            None if event.error else event.output
        )
        assert row["latency_ms"] == event.latency_ms
        assert json.loads(row["inputs"]) == event.inputs
        assert (None if row["features"] is None else json.loads(row["features"])) == event.features
        assert row["feedback_id"] is None and row["ground_truth"] is None
    else:
        assert isinstance(event, FeedbackEvent)
        # Feedback without an id is deduplicated by its whole body.
        expected_id = event.feedback_id if "feedback_id" in doc else base64.b64encode(value).decode()
        assert row["feedback_id"] == expected_id
        assert json.loads(row["ground_truth"]) == event.ground_truth
        assert row["source"] == event.source
        assert row["output"] is None and row["latency_ms"] is None


@pytest.mark.parametrize(
    ("contract", "doc"),
    [
        (PredictionEvent, _prediction(model_version=...)),
        (PredictionEvent, _prediction(latency_ms=-1)),
        (PredictionEvent, _prediction(prediction_id="has space")),
        (PredictionEvent, _prediction(ts="yesterday")),
        (FeedbackEvent, _feedback(ground_truth=...)),
        (FeedbackEvent, _feedback(schema="closeloop.prediction.v1")),
        (FeedbackEvent, [1, 2]),
    ],
    ids=repr,
)
def test_an_invalid_event_names_the_field_python_refuses_first(
    flink_jvm: JvmTwin, contract: type[Event], doc: Any
) -> None:
    value = json.dumps(doc).encode()
    with pytest.raises(InvalidEventError) as refused:
        decode(value, contract)
    row = _read(flink_jvm, contract, value, key=None)
    assert row["problem"] is not None
    assert row["problem"].split("\t")[0] == refused.value.errors[0].field.split(".")[0]
    # It never moves the watermark if its time is broken, and carries what the dead letter needs.
    assert row["message_key"] is None and row["body"] == value.decode() and row["offset"] == 42
    if refused.value.errors[0].field == "ts":
        assert row["event_ts"] == 0


def test_a_ts_too_far_ahead_of_kafka_is_refused_and_gets_no_time(flink_jvm: JvmTwin) -> None:
    ahead = datetime.fromtimestamp((KAFKA_MS + SKEW_MS + 1) / 1000, UTC)
    row = _read(flink_jvm, PredictionEvent, json.dumps(_prediction(ts=_iso(ahead))).encode())
    assert row["problem"] == future_problem(SETTINGS)
    assert row["event_ts"] == 0
    just = datetime.fromtimestamp((KAFKA_MS + SKEW_MS) / 1000, UTC)
    row = _read(
        flink_jvm, PredictionEvent, encode(PredictionEvent.model_validate({**_prediction(), "ts": just}))
    )
    assert row["problem"] is None and row["event_ts"] == KAFKA_MS + SKEW_MS


def test_bytes_that_are_not_utf8_are_a_dead_letter_not_a_failure(flink_jvm: JvmTwin) -> None:
    row = _read(flink_jvm, FeedbackEvent, b"\xff\xfe{not json")
    assert row["problem"].split("\t")[0] == "(event)"
    assert row["event_ts"] == 0
