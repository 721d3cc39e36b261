"""Where each preprocessed raw event goes: the sink's name, the event's key and its JSON."""

from __future__ import annotations

from closeloop.events import encode
from closeloop.media.preprocess import Preprocessed

__all__ = ["DEAD_LETTER", "REQUEST", "routed"]

#: The first field of the preprocessing function's row: which sink takes it.
REQUEST, DEAD_LETTER = "request", "dead_letter"


def routed(outcome: Preprocessed) -> tuple[str, str, str]:
    """What one raw event came to, as (sink, key, event JSON)."""
    if outcome.request is not None:
        return REQUEST, outcome.request.key(), encode(outcome.request).decode()
    if outcome.dead_letter is None:
        raise ValueError("a preprocessed event is a request or a dead letter")
    return DEAD_LETTER, outcome.dead_letter.key(), encode(outcome.dead_letter).decode()
