"""The JVM's contract checks (io.closeloop.flink.EventContract) against the contract's own decoder.

The streaming job checks each event as it parses it, by rules generated from
the pydantic models (closeloop.streaming.stages.checks). The oracle is
``closeloop.events.decode``: an event it accepts breaks no rule, and one it
refuses for one reason breaks a rule on the same field, in pydantic's words
where the rule uses them.

``ts`` is judged by the source's own parse (its twin is IsoTime's): the JVM is
told whether it is broken, here by the oracle, and must put it in its place.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from closeloop.events import FeedbackEvent, InvalidEventError, PredictionEvent, decode, encode
from closeloop.events.models import Event
from closeloop.streaming.stages.checks import feedback_rules, members, prediction_rules, rules_json
from tests.unit.streaming.jvm import JvmTwin, jvm  # noqa: F401

AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
PREDICTION = json.loads(
    encode(
        PredictionEvent(
            prediction_id="p-1",
            model_name="clf",
            model_version="3",
            task="classification",
            inputs={"x": 1.5, "y": [1, 2]},
            output=2,
            latency_ms=12.5,
            ts=AT,
        )
    )
)
FEEDBACK = json.loads(encode(FeedbackEvent(prediction_id="p-1", ground_truth=2, feedback_id="f-1", ts=AT)))
RULES = {PredictionEvent: prediction_rules(), FeedbackEvent: feedback_rules()}
EMOJI = "\U0001f600"

#: One change to a valid event each: member -> new value (``...``: drop the member).
PREDICTION_CHANGES: list[dict[str, Any]] = [
    {},
    *({key: ...} for key in ("schema", "prediction_id", "model_name", "model_version", "task", "inputs")),
    {"latency_ms": ...},
    {"schema": "closeloop.prediction.v0"},
    {"schema": ""},
    {"schema": 5},
    {"schema": "closeloop.feedback.v1"},
    *({"prediction_id": value} for value in ["", "x" * 128, "x" * 129, "has space", "p1\n", "tab\there"]),
    *({"prediction_id": value} for value in ["ünïcode", "日本", EMOJI, "é" * 128, "é" * 129]),
    *({"prediction_id": value} for value in [7, True, {"a": 1}, [1]]),
    *({"model_name": value} for value in ["bad name", "a.b-c_d", "x" * 256, "x" * 257, "", 3.5]),
    *({"model_version": value} for value in ["", "v" * 64, "v" * 65, EMOJI * 64, EMOJI * 65, 3, False]),
    *({"task": value} for value in ["astrology", "classification ", 5, ["classification"], "regression"]),
    *({"inputs": value} for value in [[], "x", 3, {}, {"nested": {"deep": [None]}}]),
    *({"features": value} for value in [None, {}, {"a": 1}, {"a": 1.5, "b": -2e300}, {"a": math.nan}]),
    *({"features": value} for value in [{"a": "1"}, {"a": True}, {"a": None}, {"a": [1]}, {"a": {"b": 1}}]),
    *({"features": value} for value in [{"a": 1, "b": "x"}, "x", [1], 3, {"a": 1, "latency_ms": -1}]),
    {"features": {"a": "1"}, "latency_ms": -1},
    {"error": 5},
    {"error": "boom"},
    {"error": "boom", "output": None},
    {"error": None},
    {"output": None},
    *({"latency_ms": value} for value in [-1, -0.5, 0, -0.0, 1e300, "fast", [1], {"ms": 1}]),
    *({"ts": value} for value in ["yesterday", "2026-13-01T00:00:00.000Z", 1767225600]),
]
FEEDBACK_CHANGES: list[dict[str, Any]] = [
    {},
    *({key: ...} for key in ("schema", "prediction_id", "ground_truth", "feedback_id", "source")),
    {"schema": "closeloop.prediction.v1"},
    *({"feedback_id": value} for value in ["", "has space", 5, "x" * 129, "ok:id@x/y"]),
    *({"source": value} for value in ["s" * 64, "s" * 65, 5, "", EMOJI * 64]),
    *({"model_name": value} for value in ["bad name", 5, None, "clf"]),
    *({"task": value} for value in [5, None]),
    *({"ground_truth": value} for value in [0, "label", [1, 2], {"a": 1}]),
    {"prediction_id": "has space"},
]
#: Not one JSON object: each refused as the event as a whole.
NOT_OBJECTS = ["", "null", "[1]", '"{}"', "{", '{"a":1} x', '{"a":01}', "\x00\xff"]

#: Where the job is stricter than pydantic's lax mode, on purpose: a latency that is a
#: string or a boolean, or a null ground truth, is a producer's bug the job dead-letters.
STRICTER = [
    (PredictionEvent, {"latency_ms": "3"}, "latency_ms"),
    (PredictionEvent, {"latency_ms": True}, "latency_ms"),
    (FeedbackEvent, {"ground_truth": None}, "ground_truth"),
]


def _body(base: dict[str, Any], change: dict[str, Any]) -> str:
    doc = dict(base)
    for key, value in change.items():
        if value is ...:
            doc.pop(key, None)
        else:
            doc[key] = value
    return json.dumps(doc, ensure_ascii=False)


def _jvm_problem(twin: JvmTwin, contract: type[Event], body: str, bad_ts: bool) -> tuple[str, str] | None:
    names = ",".join(members(contract))
    answer = twin.call("contract", names, rules_json(RULES[contract]), body, json.dumps(bad_ts))
    if answer is None:
        return None
    assert isinstance(answer, str)
    field, reason = answer.split("\t", 1)
    return field, reason


def _oracle(contract: type[Event], body: str) -> list[tuple[str, str]]:
    try:
        decode(body, contract)
    except InvalidEventError as exc:
        return [(e.field, e.reason) for e in exc.errors]
    return []


def assert_twins(twin: JvmTwin, contract: type[Event], body: str) -> None:
    errors = _oracle(contract, body)
    got = _jvm_problem(twin, contract, body, bad_ts=any(field == "ts" for field, _ in errors))
    if not errors:
        assert got is None, (body, got)
        return
    assert got is not None, (body, errors)
    (field, reason), (oracle_field, oracle_reason) = got, errors[0]
    assert field == oracle_field.split(".")[0], (body, got, errors)
    if reason.startswith(("String should", "Input should be a valid")):
        assert reason == oracle_reason, (body, got, errors)


@pytest.mark.parametrize("change", PREDICTION_CHANGES, ids=repr)
def test_predictions(jvm: JvmTwin, change: dict[str, Any]) -> None:  # noqa: F811
    assert_twins(jvm, PredictionEvent, _body(PREDICTION, change))


@pytest.mark.parametrize("change", FEEDBACK_CHANGES, ids=repr)
def test_feedback(jvm: JvmTwin, change: dict[str, Any]) -> None:  # noqa: F811
    assert_twins(jvm, FeedbackEvent, _body(FEEDBACK, change))


@pytest.mark.parametrize("body", NOT_OBJECTS)
def test_not_one_json_object(jvm: JvmTwin, body: str) -> None:  # noqa: F811
    for contract in RULES:
        assert _jvm_problem(jvm, contract, body, bad_ts=False) == ("(event)", "not a JSON object")
        assert _oracle(contract, body)[0][0] == "(event)"


@pytest.mark.parametrize(("contract", "change", "field"), STRICTER, ids=repr)
def test_stricter_than_pydantic(jvm: JvmTwin, contract: type[Event], change: dict, field: str) -> None:  # noqa: F811
    body = _body(PREDICTION if contract is PredictionEvent else FEEDBACK, change)
    assert _oracle(contract, body) == []
    problem = _jvm_problem(jvm, contract, body, bad_ts=False)
    assert problem is not None and problem[0] == field


def test_the_first_broken_rule_wins(jvm: JvmTwin) -> None:  # noqa: F811
    body = _body(PREDICTION, {"model_name": "bad name", "latency_ms": -1, "output": None})
    assert _jvm_problem(jvm, PredictionEvent, body, bad_ts=True) == (
        "model_name",
        r"String should match pattern '^[\w.-]+$'",
    )
