"""The client JVM's class archive: dumped once, mapped after, made anew for other jars."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from closeloop.stack.class_sharing import ClassSharing


@pytest.fixture
def sharing(tmp_path: Path) -> ClassSharing:
    jar = tmp_path / "lib" / "a.jar"
    jar.parent.mkdir()
    jar.write_bytes(b"one")
    return ClassSharing(folder=tmp_path / "cds", classpath=[jar])


def _run_java(flags: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["java", *extra, *flags.split(), "-version"], capture_output=True, text=True, check=False
    )


def _dump_file(flags: str) -> Path:
    """Where the flags tell the JVM to dump its archive."""
    (flag,) = [f for f in flags.split() if f.startswith("-XX:ArchiveClassesAtExit=")]
    return Path(flag.split("=", 1)[1])


def test_the_first_run_dumps_the_archive_and_the_next_maps_it(sharing: ClassSharing) -> None:
    with sharing.jvm_args() as first:
        assert first.startswith("-XX:ArchiveClassesAtExit=")
        assert _run_java(first).returncode == 0
    assert sharing.archive.exists()
    assert not list(sharing.folder.glob("*.tmp")) and not list(sharing.folder.glob("*.dumping"))

    with sharing.jvm_args() as second:
        assert second == f"-XX:SharedArchiveFile={sharing.archive}"
        # -Xshare:on fails the JVM if it cannot map the archive.
        mapped = _run_java(second, "-Xshare:on")
        assert mapped.returncode == 0, mapped.stderr


def test_a_run_during_the_dump_goes_without_and_a_failed_run_leaves_no_archive(
    sharing: ClassSharing,
) -> None:
    with pytest.raises(RuntimeError), sharing.jvm_args() as dumping:
        assert dumping.startswith("-XX:ArchiveClassesAtExit=")
        with sharing.jvm_args() as meanwhile:
            assert meanwhile == ""
        _dump_file(dumping).write_bytes(b"half")
        raise RuntimeError("the submission failed")
    assert list(sharing.folder.iterdir()) == []
    with sharing.jvm_args() as next_run:
        assert next_run.startswith("-XX:ArchiveClassesAtExit="), "the claim was not released"


def test_a_claim_left_by_a_killed_run_expires(sharing: ClassSharing) -> None:
    claim = sharing.archive.with_suffix(".dumping")
    claim.parent.mkdir(parents=True)
    claim.touch()
    with sharing.jvm_args() as fresh_claim:
        assert fresh_claim == ""
    an_hour_ago = time.time() - 3600
    os.utime(claim, (an_hour_ago, an_hour_ago))
    with sharing.jvm_args() as stale_claim:
        assert stale_claim.startswith("-XX:ArchiveClassesAtExit=")


def test_a_changed_jar_gets_an_archive_of_its_own_and_the_old_one_goes(sharing: ClassSharing) -> None:
    with sharing.jvm_args() as flags:
        _dump_file(flags).write_bytes(b"archive")
    old = sharing.archive
    (jar,) = sharing.classpath
    jar.write_bytes(b"a rebuilt jar")
    assert sharing.archive != old
    with sharing.jvm_args() as flags:
        assert flags.startswith("-XX:ArchiveClassesAtExit=")
        _dump_file(flags).write_bytes(b"archive")
    assert [p.name for p in sharing.folder.iterdir()] == [sharing.archive.name]
