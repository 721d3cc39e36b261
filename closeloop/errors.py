"""closeloop's exceptions: one root, one subclass per area, messages that carry context."""

from __future__ import annotations

__all__ = [
    "CloseloopError",
    "InputError",
    "ServiceUnhealthyError",
    "SetupMissingError",
    "StackError",
    "WaitTimeout",
]


class CloseloopError(Exception):
    """Root of every error closeloop raises on purpose."""


class InputError(CloseloopError, ValueError):
    """An input a model cannot take (a missing feature, an image that does not decode); names the field.

    A model raises it, with the field as ``<index>.<name>`` for the index-th
    input of a batch, to say the input is at fault, not the model: the
    gateway answers 422 and the streaming paths dead-letter the input.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class StackError(CloseloopError):
    """The local stack could not be started, stopped or inspected."""


class SetupMissingError(StackError):
    """Something `make setup` installs is absent."""

    def __init__(self, service: str, missing: list[str]) -> None:
        self.service = service
        self.missing = missing
        items = "; ".join(missing)
        super().__init__(f"{service} cannot start, missing: {items}. Run `make setup` first.")


class ServiceUnhealthyError(StackError):
    """A service did not become healthy in time."""

    def __init__(self, service: str, reason: str, log_tail: str) -> None:
        self.service = service
        self.reason = reason
        self.log_tail = log_tail
        super().__init__(f"{service} is not healthy: {reason}")


class WaitTimeout(CloseloopError, TimeoutError):
    """Something awaited did not happen in time (see closeloop.waiting.wait_until)."""

    def __init__(self, what: str, timeout: float, last: object) -> None:
        self.what = what
        self.timeout = timeout
        #: The predicate's last value, or the last exception it raised that counted as "not yet".
        self.last = last
        super().__init__(f"timed out after {timeout:g} s waiting for {what}; last seen: {last!r}")
