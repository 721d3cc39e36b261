"""Every key the Flink jobs set is one Flink knows: Flink drops a key it does not know without a word.

The feedback job once asked for partitioned index and filter blocks under
``state.backend.rocksdb.use-partitioned-index-filters``, a key Flink 2.x does
not have (it is ``state.backend.rocksdb.memory.partitioned-index-filters``),
and ran without them. Each job's ``configure`` runs here in the PyFlink
virtualenv against a recorder, and each key it sets must be a string constant
of one of Flink's option classes (``*Options.class``) in the jars PyFlink
ships, the ones the session cluster runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from functools import cache

import pytest

from closeloop.config import PROJECT_ROOT
from closeloop.stack.layout import Layout
from closeloop.stack.settings import StackSettings

# Runs in the PyFlink virtualenv: flink/*.py import pyflink at the top.
_RECORD_KEYS = """
import json, sys
sys.path[:0] = [{root!r}, {flink!r}]
import feedback_job, preprocess_job
from closeloop.preprocessing.settings import PreprocessJobSettings
from closeloop.streaming.settings import load_job_settings


class Recorder:
    def __init__(self):
        self.keys = []

    def set(self, key, value):
        self.keys.append(key)
        return self

    def get_config(self):
        return self


feedback, preprocess = Recorder(), Recorder()
feedback_job.configure(feedback, load_job_settings())
preprocess_job.configure(preprocess, PreprocessJobSettings.load())
print(json.dumps({{"feedback_job": feedback.keys, "preprocess_job": preprocess.keys}}))
"""


@cache
def _layout() -> Layout:
    return Layout.from_settings(StackSettings())


@cache
def _flink_option_classes() -> bytes:
    """The bytes of every ``*Options.class`` in PyFlink's jars, one blob to search."""
    pyflink = _layout().pyflink
    jars = sorted([*(pyflink / "lib").glob("*.jar"), *(pyflink / "opt").glob("*.jar")])
    if not jars:
        pytest.skip(f"no PyFlink at {pyflink}: `make setup` installs it")
    blobs = []
    for jar in jars:
        with zipfile.ZipFile(jar) as archive:
            blobs.extend(archive.read(n) for n in archive.namelist() if n.endswith("Options.class"))
    return b"\n".join(blobs)


def _keys_set_by_the_jobs() -> dict[str, list[str]]:
    python = _layout().flink_venv / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no PyFlink virtualenv at {python.parent.parent}: `make setup` makes it")
    script = _RECORD_KEYS.format(root=str(PROJECT_ROOT), flink=str(PROJECT_ROOT / "flink"))
    # A parallelism given, so that the preprocess job's configure asks no broker for partitions.
    env = {"CLOSELOOP_PREPROCESS_PARALLELISM": "1", "CLOSELOOP_JOB_PARALLELISM": "1"}
    result = subprocess.run(
        [str(python), "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _constant(key: str) -> bytes:
    """``key`` as a class file's string constant: its length in two bytes, then its bytes.

    Whole, so that a key that is only the front of one of Flink's does not pass.
    """
    data = key.encode()
    return len(data).to_bytes(2, "big") + data


def test_every_key_the_jobs_set_is_a_flink_option() -> None:
    keys = _keys_set_by_the_jobs()
    assert "state.backend.type" in keys["feedback_job"]  # the recorder saw the calls
    options = _flink_option_classes()
    unknown = {
        job: [key for key in job_keys if _constant(key) not in options] for job, job_keys in keys.items()
    }
    assert unknown == {"feedback_job": [], "preprocess_job": []}


def test_an_unknown_key_is_caught() -> None:
    # The key the job once set: the check above must be able to fail.
    assert _constant("state.backend.rocksdb.use-partitioned-index-filters") not in _flink_option_classes()
    assert _constant("state.backend.rocksdb.memory.partitioned-index-filters") in _flink_option_classes()
    assert _constant("state.backend.rocksdb.memory") not in _flink_option_classes()
