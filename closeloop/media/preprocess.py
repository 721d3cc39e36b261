"""One raw event to one model-ready request: the per-record work of the preprocessing of raw events.

A ``closeloop.raw.v1`` event becomes a ``closeloop.request.v1`` for its use
case's model, with the file normalized by the use case's spec
(``normalize``); its request id is the raw event's id, so a result and a
prediction can be traced back to the raw input. Anything that cannot become
a request (an event that breaks its contract, an unknown use case, the
wrong media, a file that does not decode or cannot be read) becomes a dead
letter with the field and the reason.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from closeloop.events import (
    DeadLetterEvent,
    FieldError,
    InvalidEventError,
    RawEvent,
    RequestEvent,
    decode,
)
from closeloop.media.normalize import RawInput, normalize

__all__ = ["Preprocessed", "preprocess"]

#: Reads the file a raw event names by URI (``s3://bucket/key``); raises an exception saying why not.
Fetch = Callable[[str], bytes]


@dataclass(frozen=True)
class Preprocessed:
    """What one raw event came to: a request, or a dead letter."""

    request: RequestEvent | None = None
    dead_letter: DeadLetterEvent | None = None


def preprocess(
    message: bytes,
    inputs: Mapping[str, RawInput],
    fetch: Fetch,
    *,
    source_topic: str,
    rejected_by: str = "preprocess",
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | str | None = None,
) -> Preprocessed:
    """``message`` (a raw event's bytes) as a request for its use case's model, or a dead letter."""

    def refused(problem: FieldError) -> Preprocessed:
        letter = DeadLetterEvent.wrap(
            message,
            reason=str(problem),
            field=problem.field,
            source_topic=source_topic,
            rejected_by=rejected_by,
            partition=partition,
            offset=offset,
            key=key,
        )
        return Preprocessed(dead_letter=letter)

    try:
        event = decode(message, RawEvent)
    except InvalidEventError as exc:
        return refused(exc.errors[0])
    entry = inputs.get(event.use_case)
    if entry is None:
        known = ", ".join(sorted(inputs)) or "none"
        return refused(
            FieldError("use_case", f"no use case {event.use_case!r} takes raw inputs; known: {known}")
        )
    spec = entry.spec
    if event.media != spec.media:
        return refused(FieldError("media", f"{event.use_case} takes {spec.media}, not {event.media}"))
    where = "data" if event.data is not None else "uri"
    try:
        raw = base64.b64decode(event.data) if event.data is not None else fetch(event.uri or "")
    except Exception as exc:  # the store's error: the key is missing, or the store is away
        return refused(FieldError("uri", f"cannot read {event.uri}: {exc}"))
    try:
        normalized = normalize(spec, raw)
    except ValueError as exc:
        return refused(FieldError(where, str(exc)))
    request = RequestEvent(
        request_id=event.raw_id,
        model_name=entry.model_name,
        inputs={spec.feature: base64.b64encode(normalized).decode("ascii")},
        source=event.source,
    )
    return Preprocessed(request=request)
