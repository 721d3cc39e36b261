"""The JVM's one-pass event parse (io.closeloop.flink.EventMembers) against Python's ``json``.

The streaming job parses each event once, in the JVM (``event_members``), and its
contract checks read each member as JSON text (``j_<member>``) and as text
(``t_<member>``). Python's ``json.loads`` is the oracle: the same events are JSON
objects, each member's text parses back to the member, and a string's text is the
string itself.
"""

from __future__ import annotations

import base64
import json
import math
import random
from typing import Any

import pytest

from tests.unit.streaming.jvm import JvmTwin, jvm  # noqa: F401

NAMES = ["schema", "prediction_id", "inputs", "output", "latency_ms", "error"]


def python_members(body: str) -> list[str | None] | None:
    """What the JVM must answer, from Python's parse; texts compared by value, not bytes."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    return [doc.get(name) for name in NAMES]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def assert_twins(twin: JvmTwin, body: str) -> None:
    expected = python_members(body)
    answer = twin.call("members", ",".join(NAMES), body)
    if expected is None:
        assert answer is None, body
        return
    assert isinstance(answer, list) and len(answer) == 2 * len(NAMES), (body, answer)
    texts, plain = answer[: len(NAMES)], answer[len(NAMES) :]
    for name, value, j, t in zip(NAMES, expected, texts, plain, strict=True):
        where = (body, name, j, t)
        if value is None:
            assert j is None and t is None, where
            continue
        assert j is not None and same(json.loads(j), value), where
        # Compact: no whitespace outside strings, so the checks compare texts.
        if not isinstance(value, str):
            assert t == j, where
        else:
            assert t == value, where
            assert j == json.dumps(value, ensure_ascii=False) or same(json.loads(j), value), where


EDGES = [
    # the gateway's own shape
    '{"ts":"2026-11-22T10:00:00.123Z","schema":"closeloop.prediction.v1","prediction_id":"p1",'
    '"inputs":{"x":1.5,"y":[1,2,{"z":null}]},"output":3,"latency_ms":12.5}',
    # not one JSON object
    "",
    "null",
    "[1, 2]",
    '"{}"',
    "{",
    '{"a":1}{"b":2}',
    '{"a":1} x',
    '{"a":1,}',
    '{"a":01}',
    '{"a":"tab\tinside"}',
    '{"a":[1,2}',
    '{"inputs": {"x": }}',
    # whitespace around and inside
    ' \n\t{ "schema" : "s" ,\r\n "output" : [ 1 , 2 ] } \n',
    # null, absent, false and zero are different
    '{"output":null,"error":null,"latency_ms":0,"schema":false}',
    '{"output":false,"latency_ms":-0.0,"error":""}',
    # 3 vs "3" vs 3.0 vs 3e0
    '{"output":3,"latency_ms":"3","inputs":3.0,"error":3e0}',
    '{"output":12345678901234567890123456789,"latency_ms":1e400,"inputs":-1E-400}',
    # NaN and Infinity: Python's json reads them as numbers
    '{"latency_ms":NaN,"output":Infinity,"inputs":-Infinity}',
    # escapes, Unicode, astral characters
    '{"schema":"closeloop.prediction.v1","prediction_id":"\\u0070\\u0031","error":"a\\"b\\\\c\\/d\\n"}',
    '{"prediction_id":"caf\u00e9 \u00a0 \u2028 \U0001f600","output":"\\ud83d\\ude00"}',
    '{"inputs":{"k\\u00e9y":"v\\u0000w","nested":{"deep":[[[]]],"e":{}}}}',
    # repeated keys: the last wins, as in Python
    '{"output":1,"output":2,"inputs":{"a":1},"inputs":[3]}',
    # members this call does not ask for are still read: a syntax error anywhere breaks the event
    '{"unused":{"a":[1,2,3],"b":"x"},"output":1}',
    '{"unused":{"a":[1,2,3,],"b":"x"},"output":1}',
]


@pytest.mark.parametrize("body", EDGES)
def test_edge_cases(jvm: JvmTwin, body: str) -> None:  # noqa: F811
    assert_twins(jvm, body)


def _value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randrange(-(10**20), 10**20)
    if kind == 3:
        return rng.choice([rng.uniform(-1e6, 1e6), rng.gauss(0, 1e-9), 0.1, -0.0, 1e300])
    if kind == 4:
        alphabet = 'ab "\\/\n\t\u00e9\u00a0\u2028\U0001f600\x01'
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))
    if kind in (5, 6):
        return {f"k{rng.randrange(9)}": _value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def test_random_events(jvm: JvmTwin) -> None:  # noqa: F811
    rng = random.Random(11)
    for _ in range(300):
        doc = {name: _value(rng, 0) for name in NAMES if rng.random() < 0.7}
        doc.update({f"extra{i}": _value(rng, 1) for i in range(rng.randrange(3))})
        items = list(doc.items())
        rng.shuffle(items)
        body = json.dumps(dict(items), ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1]))
        assert_twins(jvm, body)


def assert_bytes_read_as_their_text(twin: JvmTwin, body: bytes) -> None:
    """The job hands event_members the event's bytes: their answer is that of their text."""
    from_bytes, from_text = twin.call("members_utf8", ",".join(NAMES), base64.b64encode(body).decode())
    assert from_bytes == from_text, body


@pytest.mark.parametrize("body", EDGES)
def test_an_events_bytes_read_as_its_text(jvm: JvmTwin, body: str) -> None:  # noqa: F811
    assert_bytes_read_as_their_text(jvm, body.encode())


GATEWAY = EDGES[0].encode()

#: Bytes that are not UTF-8, or that Jackson would take for another encoding.
NOT_UTF8 = [
    b"\x80",  # a lone continuation byte
    b"\xc0\xaf",  # overlong
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",  # a surrogate
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"\xf8\x88\x80\x80\x80",
    b"\xe2\x82",  # cut short
    b"\xff\xfe",
]


@pytest.mark.parametrize("bad", NOT_UTF8)
def test_bytes_that_are_not_utf8_read_as_decoded(jvm: JvmTwin, bad: bytes) -> None:  # noqa: F811
    # In a member the job reads, in one it skips, after the object, and in front of it.
    assert_bytes_read_as_their_text(jvm, GATEWAY.replace(b'"p1"', b'"p' + bad + b'"'))
    assert_bytes_read_as_their_text(jvm, GATEWAY.replace(b'"x":1.5', b'"x' + bad + b'":1.5'))
    assert_bytes_read_as_their_text(jvm, GATEWAY + bad)
    assert_bytes_read_as_their_text(jvm, bad + GATEWAY)


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf" + GATEWAY,  # a UTF-8 byte order mark
        '{"output":1}'.encode("utf-16-le"),
        '{"output":1}'.encode("utf-16"),
        '{"output":1}'.encode("utf-32-le"),
        b"{\x00\x00\x00}\x00\x00\x00",
        b"{}",
        b"{",
    ],
)
def test_bytes_jackson_would_guess_another_encoding_for_read_as_utf8(jvm: JvmTwin, body: bytes) -> None:  # noqa: F811
    assert_bytes_read_as_their_text(jvm, body)


def test_random_bytes_read_as_their_text(jvm: JvmTwin) -> None:  # noqa: F811
    rng = random.Random(17)
    for _ in range(300):
        body = bytearray(GATEWAY)
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(body))
            body[at:at] = rng.randbytes(rng.randrange(1, 4))
        assert_bytes_read_as_their_text(jvm, bytes(body))


def test_well_formed_utf8_is_what_python_decodes(jvm: JvmTwin) -> None:  # noqa: F811
    rng = random.Random(19)
    cases = [*NOT_UTF8, GATEWAY, "caf\u00e9 \U0001f600 \u2028".encode(), b"\xed\x9f\xbf", b"\xee\x80\x80"]
    cases += [rng.randbytes(rng.randrange(1, 6)) for _ in range(2000)]
    for raw in cases:
        try:
            raw.decode("utf-8")
            python = True
        except UnicodeDecodeError:
            python = False
        assert jvm.call("utf8_well_formed", base64.b64encode(raw).decode()) is python, raw
