"""An append-only disk spool for events Kafka could not take, replayed in order.

Records go to numbered segment files of JSON lines in the spool directory. A
segment is deleted only after every record in it was acknowledged by Kafka
(or dead-lettered), so a crash during replay sends some records twice, never
zero times. ``sync`` makes what was appended durable; concurrent callers share
one fsync (group commit), so a burst of spooled requests costs a few syncs,
not one each. The spool holds at most ``max_bytes``: past that ``append``
raises SpoolFullError rather than fill the disk.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from closeloop.errors import CloseloopError

__all__ = ["DiskSpool", "SpoolFullError", "SpooledRecord"]

_SEGMENT_RECORDS = 10_000
_log = logging.getLogger(__name__)


class SpoolFullError(CloseloopError):
    """The spool holds its maximum; nothing more can be taken until Kafka drains it."""


@dataclass(frozen=True)
class SpooledRecord:
    topic: str
    key: str
    value: bytes

    def line(self) -> bytes:
        return (
            json.dumps({"topic": self.topic, "key": self.key, "value": self.value.decode()}) + "\n"
        ).encode()


class DiskSpool:
    """Thread-safe: request threads and Kafka's delivery reports append while the replayer drains."""

    def __init__(self, folder: Path, *, max_bytes: int = 1 << 30) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)  # events hold user data
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        segments = self._segments()
        self._pending = sum(self._count(p) for p in segments)
        self._bytes = sum(p.stat().st_size for p in segments)
        self._writing: IO[bytes] | None = None
        self._writing_path: Path | None = None
        self._written = 0
        #: Appends so far, and how many of them a sync has made durable.
        self._appended = 0
        self._synced = 0

    @property
    def pending(self) -> int:
        """Records on disk not yet replayed."""
        return self._pending

    @property
    def size_bytes(self) -> int:
        return self._bytes

    @property
    def full(self) -> bool:
        return self._bytes >= self.max_bytes

    def _segments(self) -> list[Path]:
        return sorted(self.folder.glob("*.jsonl"))

    @staticmethod
    def _count(path: Path) -> int:
        with path.open("rb") as f:
            return sum(1 for _ in f)

    def append(self, records: Sequence[SpooledRecord]) -> int:
        """Write ``records``; returns a ticket for ``sync``. SpoolFullError if they do not fit."""
        lines = [r.line() for r in records]
        size = sum(len(line) for line in lines)
        with self._lock:
            if self._bytes + size > self.max_bytes:
                raise SpoolFullError(
                    f"the spool in {self.folder} holds {self._bytes:,} bytes, "
                    f"its limit is {self.max_bytes:,} (CLOSELOOP_SPOOL_MAX_BYTES)"
                )
            for line in lines:
                self._file().write(line)
                self._written += 1
            assert self._writing is not None
            self._writing.flush()  # to the OS now; to the disk at sync
            self._pending += len(lines)
            self._bytes += size
            self._appended += 1
            return self._appended

    def _file(self) -> IO[bytes]:
        """The open segment, a new one when it is full or sealed (called with the lock held)."""
        if self._writing is None or self._written >= _SEGMENT_RECORDS:
            self._seal()
            segments = self._segments()
            number = int(segments[-1].stem) + 1 if segments else 1
            self._writing_path = self.folder / f"{number:012d}.jsonl"
            self._writing, self._written = self._writing_path.open("ab"), 0
            _fsync_dir(self.folder)  # the new file's name must survive a crash too
        return self._writing

    def _seal(self) -> None:
        if self._writing is not None:
            self._writing.flush()
            os.fsync(self._writing.fileno())
            self._writing.close()
            self._writing = self._writing_path = None

    def sync(self, ticket: int) -> None:
        """Return once the append that gave ``ticket`` is on disk; one fsync serves every waiter."""
        with self._sync_lock:
            if self._synced >= ticket:
                return  # another caller's fsync covered it
            with self._lock:
                target, writing = self._appended, self._writing
                fd = os.dup(writing.fileno()) if writing is not None else None
            if fd is not None:  # None: sealed (and synced) since
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self._synced = target

    def oldest(self) -> tuple[Path, list[SpooledRecord]] | None:
        """The oldest segment and its records, sealed so new appends go to a new segment."""
        with self._lock:
            segments = self._segments()
            if not segments:
                return None
            oldest = segments[0]
            if oldest == self._writing_path:
                self._seal()  # replay must not race new appends
        return oldest, list(self._read(oldest))

    @staticmethod
    def _read(path: Path) -> Iterator[SpooledRecord]:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    # Only a write torn by a crash can leave a partial line: the last
                    # one, whose request was never answered.
                    _log.warning("spool %s line %d is torn, skipping it", path, number)
                    continue
                yield SpooledRecord(data["topic"], data["key"], data["value"].encode())

    def done(self, segment: Path, count: int) -> None:
        """Forget a segment whose ``count`` records Kafka has acknowledged or dead-lettered."""
        with self._lock:
            size = segment.stat().st_size if segment.exists() else 0
            segment.unlink(missing_ok=True)
            self._pending = max(0, self._pending - count)
            self._bytes = max(0, self._bytes - size)

    def close(self) -> None:
        with self._lock:
            self._seal()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
