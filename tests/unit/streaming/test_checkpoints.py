"""Which checkpoint a restarted feedback job resumes from."""

from __future__ import annotations

import os
from pathlib import Path

from closeloop.streaming.checkpoints import job_checkpoints_dir, latest_checkpoint, local_path


def checkpoint(root: Path, job_id: str, n: int, *, mtime: float, complete: bool = True) -> Path:
    folder = root / job_id / f"chk-{n}"
    folder.mkdir(parents=True)
    if complete:
        (folder / "_metadata").write_bytes(b"x")
        os.utime(folder / "_metadata", (mtime, mtime))
    return folder


def test_the_newest_complete_checkpoint_of_any_earlier_run(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path) is None
    checkpoint(tmp_path, "a" * 32, 7, mtime=1000)
    newest = checkpoint(tmp_path, "b" * 32, 9, mtime=2000)  # the run resumed from chk-7
    checkpoint(tmp_path, "b" * 32, 10, mtime=3000, complete=False)  # killed while writing it
    assert latest_checkpoint(tmp_path) == newest


def test_checkpoints_sit_in_a_folder_named_after_the_job(tmp_path: Path) -> None:
    assert job_checkpoints_dir("s3://bucket/checkpoints/", "feedback") == "s3://bucket/checkpoints/feedback"
    assert local_path(job_checkpoints_dir(tmp_path.as_uri(), "feedback")) == tmp_path / "feedback"
    assert local_path("/var/flink/checkpoints") == Path("/var/flink/checkpoints")
    assert local_path("s3://bucket/checkpoints") is None
