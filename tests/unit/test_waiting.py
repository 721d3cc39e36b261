"""wait_until, the one deadline loop, and the tests' eventually() over it."""

from __future__ import annotations

import time

import pytest

from closeloop.errors import CloseloopError
from closeloop.waiting import WaitTimeout, wait_until
from tests.waiting import NotYet, eventually


def _counting(*values: object) -> tuple[list[int], object]:
    """A predicate returning ``values`` in turn (raising the exceptions among them), then the last again."""
    calls = [0]

    def predicate() -> object:
        value = values[min(calls[0], len(values) - 1)]
        calls[0] += 1
        if isinstance(value, BaseException):
            raise value
        return value

    return calls, predicate


def test_returns_the_first_truthy_value() -> None:
    calls, predicate = _counting(None, 0, "", {"version": "7"})
    assert wait_until(predicate, 5, "a version", interval=0.001) == {"version": "7"}
    assert calls[0] == 4


def test_times_out_naming_what_and_the_last_value() -> None:
    _, predicate = _counting([], [], {})
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as caught:
        wait_until(predicate, 0.05, "the gateway to serve version 7", interval=0.01)
    assert 0.05 <= time.monotonic() - started < 1
    error = caught.value
    assert isinstance(error, TimeoutError) and isinstance(error, CloseloopError)
    assert str(error) == "timed out after 0.05 s waiting for the gateway to serve version 7; last seen: {}"
    assert (error.what, error.timeout, error.last) == ("the gateway to serve version 7", 0.05, {})
    assert error.__cause__ is None


def test_the_predicate_runs_at_least_once_and_once_more_at_the_deadline() -> None:
    calls, predicate = _counting(False)
    with pytest.raises(WaitTimeout):
        wait_until(predicate, 0, "nothing")
    assert calls[0] == 1
    calls, predicate = _counting(False)
    with pytest.raises(WaitTimeout):
        # The sleep is cut to the deadline: a long interval still ends in time, after a last try.
        wait_until(predicate, 0.05, "nothing", interval=10)
    assert calls[0] == 2


def test_retries_through_the_exceptions_it_is_told_to() -> None:
    calls, predicate = _counting(ConnectionError("refused"), ConnectionError("reset"), "up")
    assert wait_until(predicate, 5, "up", interval=0.001, retry_on=ConnectionError) == "up"
    assert calls[0] == 3


def test_a_timeout_after_exceptions_names_and_chains_the_last_one() -> None:
    last = ConnectionError("reset")
    _, predicate = _counting(ConnectionError("refused"), last)
    with pytest.raises(WaitTimeout, match=r"last seen: ConnectionError\('reset'\)") as caught:
        wait_until(predicate, 0.05, "up", interval=0.01, retry_on=(ConnectionError, TimeoutError))
    assert caught.value.last is last and caught.value.__cause__ is last


def test_other_exceptions_propagate_at_once() -> None:
    calls, predicate = _counting(ValueError("bad"), "never")
    with pytest.raises(ValueError, match="bad"):
        wait_until(predicate, 5, "x", interval=0.001, retry_on=ConnectionError)
    assert calls[0] == 1


def test_eventually_retries_on_not_yet_and_returns_what_the_check_returns() -> None:
    calls = []

    @eventually(timeout=5, interval=0.001)
    def check(target: int, *, step: int) -> int | None:
        calls.append(target)
        if len(calls) < 3:
            raise NotYet(f"{len(calls)} of {target}")
        return None if step else len(calls)

    assert check(3, step=0) == 3
    calls.clear()
    assert check(3, step=1) is None  # a check passes by returning, whatever it returns
    assert check.__name__ == "check"


def test_eventually_reraises_the_last_not_yet_with_a_note() -> None:
    seen = []

    @eventually(timeout=0.05, interval=0.01)
    def never() -> None:
        seen.append(len(seen))
        raise NotYet(f"attempt {seen[-1]}")

    with pytest.raises(NotYet) as caught:
        never()
    assert str(caught.value) == f"attempt {seen[-1]}" and len(seen) >= 2
    assert caught.value.__notes__ == [
        "timed out after 0.05 s waiting for "
        "test_eventually_reraises_the_last_not_yet_with_a_note.<locals>.never"
    ]


def test_eventually_fails_at_once_on_anything_but_not_yet() -> None:
    calls = []

    @eventually(timeout=5, interval=0.001)
    def broken() -> None:
        calls.append(1)
        raise AssertionError("wrong")

    with pytest.raises(AssertionError, match="wrong"):
        broken()
    assert calls == [1]
