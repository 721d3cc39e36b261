"""The disk spool: durable appends with shared fsyncs, a size cap, replay bookkeeping across restarts."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from closeloop.gateway import spool as spool_module
from closeloop.gateway.spool import DiskSpool, SpooledRecord, SpoolFullError


def record(i: int, size: int = 10) -> SpooledRecord:
    return SpooledRecord("closeloop.feedback", f"p-{i}", ("x" * size).encode())


def test_records_survive_a_restart_in_order_and_done_forgets_a_segment(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path)
    spool.sync(spool.append([record(0), record(1)]))
    spool.sync(spool.append([record(2)]))
    size = spool.size_bytes
    assert size > 0 and spool.pending == 3

    reopened = DiskSpool(tmp_path)  # as after a crash: nothing closed
    assert (reopened.pending, reopened.size_bytes) == (3, size)
    path, records = reopened.oldest()  # type: ignore[misc]
    assert [r.key for r in records] == ["p-0", "p-1", "p-2"]
    reopened.done(path, len(records))
    assert (reopened.pending, reopened.size_bytes) == (0, 0)
    assert reopened.oldest() is None


def test_a_sealed_segment_takes_no_more_appends(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path)
    spool.append([record(0)])
    first, _ = spool.oldest()  # type: ignore[misc]
    spool.append([record(1)])  # replay holds the first segment: this goes to a new one
    assert [r.key for r in DiskSpool._read(first)] == ["p-0"]
    spool.done(first, 1)
    _, rest = spool.oldest()  # type: ignore[misc]
    assert [r.key for r in rest] == ["p-1"]


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path)
    spool.sync(spool.append([record(0)]))
    spool.close()
    (segment,) = tmp_path.glob("*.jsonl")
    with segment.open("ab") as f:
        f.write(b'{"topic": "closeloop.feedback", "key": "p-1", "val')
    _, records = DiskSpool(tmp_path).oldest()  # type: ignore[misc]
    assert [r.key for r in records] == ["p-0"]


def test_a_full_spool_refuses_what_does_not_fit_and_takes_it_again_once_drained(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, max_bytes=1000)
    spool.append([record(0, 400)])
    with pytest.raises(SpoolFullError, match="limit is 1,000"):
        spool.append([record(1, 400), record(2, 400)])  # all or nothing
    assert spool.pending == 1
    spool.append([record(3, 400)])
    assert spool.full is False
    path, records = spool.oldest()  # type: ignore[misc]
    spool.done(path, len(records))
    spool.append([record(4, 400), record(5, 400)])
    assert spool.pending == 2


def test_concurrent_appends_share_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = DiskSpool(tmp_path)
    syncs = 0
    real_fsync = os.fsync
    gate = threading.Event()

    def slow_fsync(fd: int) -> None:
        nonlocal syncs
        syncs += 1
        gate.wait(5)  # hold the first sync so the others queue behind it
        real_fsync(fd)

    spool.append([record(-1)])  # opens the segment (and syncs the folder) before counting
    monkeypatch.setattr(spool_module.os, "fsync", slow_fsync)
    tickets = [spool.append([record(i)]) for i in range(3)]
    threads = [threading.Thread(target=spool.sync, args=(t,)) for t in tickets]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(10)
    more = [spool.append([record(10 + i)]) for i in range(20)]
    spool.sync(more[-1])
    for ticket in more:
        spool.sync(ticket)  # already covered: no fsync
    assert syncs == 2  # one for the three threads, one for the twenty appends
    assert DiskSpool(tmp_path).pending == 24
