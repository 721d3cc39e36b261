"""The JVM's reading of the gateway's time format (io.closeloop.flink.IsoTime) against Python.

The source reads ``"yyyy-MM-ddTHH:mm:ss.SSSZ"`` itself and leaves every other
text to Flink's cast, so each answer must be the time Python reads, or none: an
impossible date, a leap second or any other form must not get a time of its own.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.streaming.jvm import JvmTwin, jvm  # noqa: F401

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def gateway_text(t: datetime) -> str:
    """A time as the gateway writes it, quoted as the source sees it."""
    return json.dumps(t.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z")


def millis(t: datetime) -> int:
    return (t - EPOCH) // timedelta(milliseconds=1)


@pytest.mark.parametrize(
    "t",
    [
        datetime(2026, 11, 22, 10, 0, 0, 123000, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2024, 2, 29, 12, tzinfo=UTC),  # a leap day
        datetime(2000, 2, 29, tzinfo=UTC),  # divisible by 400: a leap year
        datetime(2100, 3, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 1000, tzinfo=UTC),
        datetime(2026, 11, 22, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    ],
)
def test_the_gateway_form_reads_as_python_reads_it(jvm: JvmTwin, t: datetime) -> None:  # noqa: F811
    assert jvm.call("iso_millis", gateway_text(t)) == millis(t)


def test_random_times_read_as_python_reads_them(jvm: JvmTwin) -> None:  # noqa: F811
    rng = random.Random(13)
    for _ in range(2000):
        t = EPOCH + timedelta(milliseconds=rng.randrange(-62_135_596_800_000, 253_402_300_799_999))
        assert jvm.call("iso_millis", gateway_text(t)) == millis(t), gateway_text(t)


@pytest.mark.parametrize(
    "text",
    [
        '"2026-02-29T10:00:00.000Z"',  # not a leap year
        '"2100-02-29T10:00:00.000Z"',  # divisible by 100, not by 400
        '"2026-04-31T10:00:00.000Z"',
        '"2026-13-01T10:00:00.000Z"',
        '"2026-00-10T10:00:00.000Z"',
        '"2026-11-00T10:00:00.000Z"',
        '"0000-01-01T00:00:00.000Z"',
        '"2026-11-22T24:00:00.000Z"',
        '"2026-11-22T10:60:00.000Z"',
        '"2026-11-22T23:59:60.000Z"',  # a leap second: Flink's cast decides
        '"2026-11-22 10:00:00.000Z"',
        '"2026-11-22T10:00:00.12Z"',
        '"2026-11-22T10:00:00.1234Z"',
        '"2026-11-22T10:00:00Z"',
        '"2026-11-22T10:00:00.000+00:00"',
        '"2026-11-22T10:00:00.000z"',
        '"2026-11-22T1a:00:00.000Z"',
        '"2026-11-22T10:0a:00.000Z"',
        '"2026-11-22T10:00:-1.000Z"',
        '"2026-1a-22T10:00:00.000Z"',
        '"2026-11-2aT10:00:00.000Z"',
        '"2026-11-22T10:00:00.00aZ"',
        '"-026-11-22T10:00:00.000Z"',
        '"2026-11-22T10:00:00.-00Z"',
        '"\uff12026-11-22T10:00:00.000Z"',  # a full-width digit 2
        "2026-11-22T10:00:00.000Z",  # unquoted
        "",
    ],
)
def test_anything_else_is_left_to_flinks_cast(jvm: JvmTwin, text: str) -> None:  # noqa: F811
    assert jvm.call("iso_millis", text) is None
