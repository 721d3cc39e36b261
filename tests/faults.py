"""What each fault test found, for bench/faults.py: one JSON line per scenario, written before it asserts.

A fault test computes its figures (sent, acknowledged, found downstream, lost,
duplicated) anyway, to assert on them; ``report`` also appends them to the
file ``CLOSELOOP_FAULTS_REPORT`` names, if it is set, so that the bench prints
the numbers of the very tests ``make test`` runs. Written before the asserts,
so that a failing scenario still shows what it lost.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel

__all__ = ["FaultRecord", "Stopwatch", "report"]

REPORT_ENV = "CLOSELOOP_FAULTS_REPORT"


class FaultRecord(BaseModel):
    scenario: str
    #: What the figures count: events, labeled examples, dead letters, requests.
    unit: str
    sent: int
    acknowledged: int
    found: int
    lost: int
    #: Extra copies delivered (at least once: allowed where consumers deduplicate).
    copies: int = 0
    #: Counted more than once where it is counted (windows, the lake): must be 0.
    counted_twice: int = 0
    #: From the faulty part's return to everything found downstream; None: no outage.
    recovery_s: float | None = None
    fuzz_cases: int = 0
    fuzz_5xx: int = 0


def report(record: FaultRecord) -> None:
    if path := os.environ.get(REPORT_ENV):
        with Path(path).open("a") as out:
            out.write(record.model_dump_json() + "\n")


class Stopwatch:
    """Seconds since it was started (or restarted), for recovery times."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def restart(self) -> None:
        self.started = time.monotonic()

    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 1)
