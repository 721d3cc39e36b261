"""Bounded waiting for tests: retry a check until it passes or the time is up, never a bare sleep."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

T = TypeVar("T")


class NotYet(Exception):
    """Raised by a check whose condition does not hold yet; its message says what is missing."""


def eventually(timeout: float, interval: float = 1.0) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a check to be retried on NotYet for up to ``timeout`` seconds, then re-raised."""
    return retry(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_exception_type(NotYet),
        reraise=True,
    )
