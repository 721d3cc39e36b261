"""An append-only disk spool for events Kafka could not take, replayed in order.

Records go to numbered segment files of JSON lines in the spool directory. A
segment is deleted only after every record in it was acknowledged by Kafka,
so a crash during replay sends some records twice, never zero times.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DiskSpool", "SpooledRecord"]

_SEGMENT_RECORDS = 10_000
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpooledRecord:
    topic: str
    key: str
    value: bytes


class DiskSpool:
    """Thread-safe: the request path appends while the replayer drains."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._pending = sum(self._count(p) for p in self._segments())
        self._writing: Path | None = None
        self._written = 0

    @property
    def pending(self) -> int:
        """Records on disk not yet replayed."""
        return self._pending

    def _segments(self) -> list[Path]:
        return sorted(self.folder.glob("*.jsonl"))

    @staticmethod
    def _count(path: Path) -> int:
        with path.open("rb") as f:
            return sum(1 for _ in f)

    def append(self, record: SpooledRecord) -> None:
        line = json.dumps({"topic": record.topic, "key": record.key, "value": record.value.decode()})
        with self._lock:
            if self._writing is None or self._written >= _SEGMENT_RECORDS or not self._writing.exists():
                segments = self._segments()
                number = int(segments[-1].stem) + 1 if segments else 1
                self._writing, self._written = self.folder / f"{number:012d}.jsonl", 0
            with self._writing.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
            self._written += 1
            self._pending += 1

    def oldest(self) -> tuple[Path, list[SpooledRecord]] | None:
        """The oldest segment and its records, sealed so new appends go to a new segment."""
        with self._lock:
            segments = self._segments()
            if not segments:
                return None
            oldest = segments[0]
            if oldest == self._writing:
                self._writing = None  # seal it: replay must not race new appends
        return oldest, list(self._read(oldest))

    @staticmethod
    def _read(path: Path) -> Iterator[SpooledRecord]:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    # Only a write torn by a crash can leave a partial line: the last one.
                    _log.warning("spool %s line %d is torn, skipping it", path, number)
                    continue
                yield SpooledRecord(data["topic"], data["key"], data["value"].encode())

    def done(self, segment: Path, count: int) -> None:
        """Forget a segment whose ``count`` records Kafka has acknowledged."""
        with self._lock:
            segment.unlink(missing_ok=True)
            self._pending = max(0, self._pending - count)
