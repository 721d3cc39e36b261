"""Bounded waiting for tests: retry a check until it passes or the time is up, never a bare sleep.

A thin decorator over closeloop.waiting.wait_until, the one deadline loop of
the code and of its tests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from closeloop.waiting import WaitTimeout, wait_until

__all__ = ["NotYet", "eventually"]

P = ParamSpec("P")
T = TypeVar("T")


class NotYet(Exception):
    """Raised by a check whose condition does not hold yet; its message says what is missing."""


def eventually(timeout: float, interval: float = 1.0) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorate a check to be retried on NotYet for up to ``timeout`` seconds, then re-raised.

    The check passes when it returns (whatever it returns, None included); any
    other exception than NotYet fails it at once. The last NotYet is re-raised
    with a note of the timeout, so callers may still catch NotYet.
    """

    def decorate(check: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(check)
        def waited(*args: P.args, **kwargs: P.kwargs) -> T:
            what = getattr(check, "__qualname__", repr(check))
            try:
                # A one-item list is truthy whatever the check returns.
                [result] = wait_until(
                    lambda: [check(*args, **kwargs)], timeout, what, interval=interval, retry_on=NotYet
                )
                return result
            except WaitTimeout as exc:
                timed_out = exc
            # Raised outside the handler, as tenacity's reraise did: the NotYet itself, not its wrapper.
            last = timed_out.last
            assert isinstance(last, NotYet)
            last.add_note(f"timed out after {timed_out.timeout:g} s waiting for {timed_out.what}")
            raise last

        return waited

    return decorate
