"""Bounded waiting: poll a condition until it holds or the time is up, then say what never happened.

The one deadline loop of closeloop and of its tests (tests/waiting.py wraps
it): every wait ends, and its error names what was awaited and what was seen
last, instead of a bare sleep or a hand-written deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from closeloop.errors import WaitTimeout

__all__ = ["WaitTimeout", "wait_until"]

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    *,
    interval: float = 1.0,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``predicate`` every ``interval`` seconds (default 1) until it returns a truthy value; return that.

    An exception of a ``retry_on`` type (default: none) counts as "not yet";
    any other propagates at once. The predicate runs at least once, and once
    more at the deadline; after ``timeout`` seconds a :class:`WaitTimeout`
    names ``what`` and the last value or exception seen, chained from that
    exception.
    """
    deadline = time.monotonic() + timeout
    while True:
        last: object
        try:
            value = predicate()
        except retry_on as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout(what, timeout, last) from (last if isinstance(last, BaseException) else None)
        time.sleep(min(interval, left))
