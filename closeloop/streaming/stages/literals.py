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
    """The member ``key`` of the parsed event as JSON text (a string keeps its quotes), NULL if absent.

    A column of the checked view (closeloop.streaming.stages.checks), written once per event.
    """
    return f"j_{key}"


def absent(key: str) -> str:
    """True when the parsed event has no ``key``, or has it as JSON null."""
    return f"({member(key)} IS NULL OR {member(key)} = 'null')"


def text(key: str) -> str:
    """The member ``key`` as SQL text: a JSON string unquoted, NULL if absent or null.

    Unescaped by a JSON parser only when it holds an escape: a parse per field
    would cost more than everything else the job does with an event.
    """
    j = member(key)
    return (
        f"CASE WHEN {absent(key)} THEN CAST(NULL AS STRING) "
        f"WHEN LEFT({j}, 1) = '\"' AND POSITION('\\' IN {j}) = 0 THEN SUBSTR({j}, 2, CHAR_LENGTH({j}) - 2) "
        f"WHEN LEFT({j}, 1) = '\"' THEN JSON_VALUE('[' || {j} || ']', '$[0]') "
        f"ELSE {j} END"
    )
