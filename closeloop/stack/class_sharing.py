"""A class-data-sharing archive for a short-lived JVM: dumped by its first run, mapped by the next ones.

Each `flink run` loads Flink's planner, Calcite and Janino afresh, some tens of
thousands of classes, to plan a job in a JVM that lives for seconds. Mapped from
an archive, they load parsed and verified already (a feedback job's submission:
17 s → 13 s on 2 cores). JDK 17 has no ``-XX:+AutoCreateSharedArchive`` (JDK 19),
so the first run dumps the archive (``-XX:ArchiveClassesAtExit``, some seconds at
its exit) and later runs map it (``-XX:SharedArchiveFile``). An archive is only
good for the JVM and the jars it was dumped with, so its name is a digest of
them: a new jar makes a new one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ClassSharing"]

#: A dump claimed longer ago than this is taken as abandoned (its JVM was killed).
_CLAIM_STALE_S = 600.0


@dataclass(frozen=True)
class ClassSharing:
    """The archive in ``folder`` for the JVM ``java`` with the jars in ``classpath``."""

    folder: Path
    classpath: Sequence[Path]
    java: str = "java"

    @property
    def archive(self) -> Path:
        return self.folder / f"{self.key()}.jsa"

    def key(self) -> str:
        """A digest of what the archive must match: the JVM's binary and each jar as it is now."""
        digest = hashlib.sha256()
        java = shutil.which(self.java)
        for path in [Path(java) if java else None, *sorted(self.classpath)]:
            if path is None or not path.exists():
                digest.update(b"-")
                continue
            real = path.resolve()
            stat = real.stat()
            digest.update(f"{real}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:16]

    @contextmanager
    def jvm_args(self) -> Iterator[str]:
        """The flags for one run of the JVM, which must have exited when the block ends.

        Maps the archive if it is there; else the first run to get here dumps it,
        and a run while that dump is under way goes without.
        """
        archive = self.archive
        if archive.exists():
            yield f"-XX:SharedArchiveFile={archive}"
            return
        claim = archive.with_suffix(".dumping")
        if not self._claim(claim):
            yield ""
            return
        dump = archive.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
        try:
            # Without -Xlog, the dump warns of each class it skips: a thousand lines in the log.
            yield f"-XX:ArchiveClassesAtExit={dump} -Xlog:cds=error"
            if dump.exists() and dump.stat().st_size > 0:
                dump.replace(archive)
                self._drop_others(keep=archive)
        finally:
            dump.unlink(missing_ok=True)
            claim.unlink(missing_ok=True)

    def _claim(self, claim: Path) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            try:
                stale = time.time() - claim.stat().st_mtime > _CLAIM_STALE_S
            except FileNotFoundError:
                return False  # its dump just ended: this run goes without, the next maps it
            if stale:
                claim.touch()
            return stale

    def _drop_others(self, keep: Path) -> None:
        """Archives of older jars: ~100 MB each, never to be mapped again."""
        for old in self.folder.glob("*.jsa"):
            if old != keep:
                old.unlink(missing_ok=True)
