"""The event decoders on random bytes and mutated valid events: an Event or InvalidEventError, no other."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closeloop.events import Event, InvalidEventError, decode, encode
from tests.unit.events.test_contracts import EXAMPLES

VALID = [json.loads(encode(e)) for e in EXAMPLES]  # type: ignore[arg-type]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decodes_or_names_the_problem(raw: bytes) -> None:
    try:
        event = decode(raw)
    except InvalidEventError as exc:
        assert exc.errors and exc.field, "an invalid event names a field"
        assert str(exc)
        return
    assert isinstance(event, Event)
    # Compared as bytes: NaN, which Python's json reads, is not equal to itself.
    assert encode(decode(encode(event))) == encode(event), "what decodes, round-trips"


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(raw: bytes) -> None:
    decodes_or_names_the_problem(raw)


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_a_member_replaced_removed_or_added(valid: dict[str, Any], data: st.DataObject) -> None:
    event = dict(valid)
    action = data.draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "add":
        event[data.draw(st.text(max_size=10))] = data.draw(json_values)
    else:
        key = data.draw(st.sampled_from(sorted(event)))
        if action == "remove":
            del event[key]
        else:
            event[key] = data.draw(json_values)
    decodes_or_names_the_problem(json.dumps(event, allow_nan=True).encode())


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_flipped_and_truncated_bytes(valid: dict[str, Any], data: st.DataObject) -> None:
    raw = bytearray(json.dumps(valid).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    decodes_or_names_the_problem(bytes(raw[:cut]))
