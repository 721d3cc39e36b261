"""SQL literals the job's statements share."""

from __future__ import annotations

__all__ = ["interval", "quote"]


def interval(seconds: int) -> str:
    """A day-to-second interval literal: `INTERVAL 'n' SECOND` stops at 99 seconds."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{secs:02d}' DAY TO SECOND"


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
