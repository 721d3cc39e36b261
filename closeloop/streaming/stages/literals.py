"""SQL literals and JSON-member expressions the job's statements share."""

from __future__ import annotations

__all__ = ["EPOCH", "absent", "interval", "member", "quote", "text"]

EPOCH = "TIMESTAMP '1970-01-01 00:00:00.000'"


def interval(seconds: int) -> str:
    """A day-to-second interval literal: `INTERVAL 'n' SECOND` stops at 99 seconds."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{secs:02d}' DAY TO SECOND"


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def member(key: str) -> str:
    """The member ``key`` of the parsed event as JSON text (a string keeps its quotes); NULL: absent, null.

    A column of the checked view (closeloop.streaming.stages.checks), written once per event.
    """
    return f"j_{key}"


def absent(key: str) -> str:
    """True when the parsed event has no ``key``, or has it as JSON null."""
    return f"{member(key)} IS NULL"


def text(key: str) -> str:
    """The member ``key`` as SQL text: a JSON string unquoted and unescaped, NULL if absent or null.

    A column of the checked view, like ``member``.
    """
    return f"t_{key}"
