"""The one serializer of closeloop's events: JSON bytes on Kafka and over HTTP.

``encode`` writes an event; ``decode`` reads one, checking its ``schema``
field first, and raises InvalidEventError naming the field and the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypeVar, overload

from pydantic import ValidationError

from closeloop.errors import CloseloopError
from closeloop.events.models import (
    AlertEvent,
    DeadLetterEvent,
    Event,
    FeedbackEvent,
    MetricsEvent,
    ModelUpdateEvent,
    PredictionEvent,
    RawEvent,
    RequestEvent,
    ResultEvent,
)

__all__ = ["EVENT_TYPES", "FieldError", "InvalidEventError", "decode", "encode", "field_errors"]

E = TypeVar("E", bound=Event)

#: Every event type by the value of its `schema` field.
EVENT_TYPES: dict[str, type[Event]] = {
    cls.SCHEMA: cls
    for cls in (
        PredictionEvent,
        FeedbackEvent,
        MetricsEvent,
        AlertEvent,
        ModelUpdateEvent,
        DeadLetterEvent,
        RawEvent,
        RequestEvent,
        ResultEvent,
    )
}


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class InvalidEventError(CloseloopError, ValueError):
    """An event that does not meet its contract. Carries every problem and the raw bytes."""

    def __init__(self, errors: list[FieldError], raw: bytes | None = None) -> None:
        self.errors = errors
        self.raw = raw
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{errors[0]}{more}")

    @property
    def field(self) -> str:
        return self.errors[0].field

    @property
    def reason(self) -> str:
        return self.errors[0].reason


def field_errors(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[FieldError]:
    """pydantic's errors as (dotted field, reason) pairs."""
    result = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in (*prefix, *error["loc"])) or "(event)"
        result.append(FieldError(location, error["msg"]))
    return result


def encode(event: Event) -> bytes:
    """The event as compact UTF-8 JSON, `schema` field included."""
    return event.model_dump_json().encode()


@overload
def decode(raw: bytes | str, expected: type[E]) -> E: ...
@overload
def decode(raw: bytes | str, expected: None = None) -> Event: ...
def decode(raw: bytes | str, expected: type[Event] | None = None) -> Event:
    """The event in ``raw``; of type ``expected`` if given, else of the type its `schema` names."""
    data_bytes = raw.encode() if isinstance(raw, str) else raw
    try:
        data = json.loads(data_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidEventError([FieldError("(event)", f"not JSON: {exc}")], data_bytes) from exc
    if not isinstance(data, dict):
        raise InvalidEventError([FieldError("(event)", "not a JSON object")], data_bytes)
    schema = data.get("schema")
    if schema is None:
        raise InvalidEventError([FieldError("schema", "missing; every event names its type")], data_bytes)
    if expected is not None and schema != expected.SCHEMA:
        reason = f"expected {expected.SCHEMA!r}, got {schema!r}"
        raise InvalidEventError([FieldError("schema", reason)], data_bytes)
    cls = EVENT_TYPES.get(schema) if isinstance(schema, str) else None
    if cls is None:
        reason = f"unknown event type {schema!r}; known: {', '.join(EVENT_TYPES)}"
        raise InvalidEventError([FieldError("schema", reason)], data_bytes)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise InvalidEventError(field_errors(exc), data_bytes) from exc
