"""Starting, finding and stopping processes by pid and by the stack's marker."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from closeloop.stack.process import (
    ProcessRecord,
    alive,
    marked_processes,
    port_owner,
    spawn,
    started_since_boot,
    stop,
)

# A process that forks a child, as Airflow and Flink do.
SLEEPER = [
    sys.executable,
    "-c",
    "import subprocess, sys, time;"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)",
]


def test_spawn_records_logs_and_stop_leaves_nothing(tmp_path: Path) -> None:
    marker = str(tmp_path)
    proc = spawn(SLEEPER, log_path=tmp_path / "logs" / "sleeper.log", env={}, cwd=tmp_path, marker=marker)
    record = ProcessRecord(service="sleeper", pids=[proc.pid], command=SLEEPER)
    record.save(tmp_path / "run")
    loaded = ProcessRecord.load(tmp_path / "run", "sleeper")
    assert loaded == record
    assert alive(loaded) == [proc.pid]

    # The child the sleeper forked carries the marker too.
    deadline = time.monotonic() + 10
    while len(marked_processes(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(marked_processes(marker)) == 2
    assert "start:" in (tmp_path / "logs" / "sleeper.log").read_text()

    assert stop([psutil.Process(proc.pid)], timeout=10) == []
    proc.wait(5)
    assert alive(loaded) == []
    deadline = time.monotonic() + 10
    while marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marked_processes(marker) == []


def test_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print('ready', flush=True); time.sleep(60)",
    ]
    log = tmp_path / "stubborn.log"
    proc = spawn(stubborn, log_path=log, env={}, cwd=tmp_path, marker=str(tmp_path))
    deadline = time.monotonic() + 10
    # "\nready": the log's header line quotes the command, which says 'ready' too.
    while "\nready" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stop([psutil.Process(proc.pid)], timeout=0.5) == [proc.pid]
    assert alive(ProcessRecord(service="stubborn", pids=[proc.pid], command=stubborn)) == []


def test_a_recycled_pid_is_not_ours() -> None:
    me = psutil.Process()
    ours = ProcessRecord(service="x", pids=[me.pid], command=[])
    made_before_it_started = ProcessRecord(
        service="x", pids=[me.pid], command=[], started_since_boot=started_since_boot(me) - 3600
    )
    other_boot = ProcessRecord(service="x", pids=[me.pid], command=[], boot_id="an earlier boot")
    assert alive(ours) == [me.pid]
    assert alive(made_before_it_started) == []
    assert alive(other_boot) == []


def test_a_wall_clock_jump_leaves_a_live_service_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    # A virtual machine resumed from a pause sets its clock forward. psutil's boot
    # time, the wall clock minus the uptime, moves with it, and so does every
    # process's create_time: checked by wall clock, the whole stack looked dead
    # while it ran, and `up` found its ports taken.
    me = psutil.Process()
    record = ProcessRecord(service="x", pids=[me.pid], command=[])
    created = me.create_time()
    wall_clock, boot_time = time.time, psutil._pslinux.boot_time
    monkeypatch.setattr(time, "time", lambda: wall_clock() + 3600)
    monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: boot_time() + 3600)
    assert psutil.Process(me.pid).create_time() > created + 3000
    assert alive(record) == [me.pid]


def test_a_record_of_an_older_closeloop_loads(tmp_path: Path) -> None:
    old = {"service": "x", "pids": [psutil.Process().pid], "command": ["x"], "started_at": 0.0}
    (tmp_path / "x.json").write_text(json.dumps(old))
    record = ProcessRecord.load(tmp_path, "x")
    assert record is not None and record.started_since_boot is None
    assert alive(record) == old["pids"]


def test_missing_record_loads_as_none(tmp_path: Path) -> None:
    assert ProcessRecord.load(tmp_path, "nothing") is None


def test_port_owner_names_the_listener() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        owner = port_owner("127.0.0.1", port)
        assert owner is not None
        assert str(psutil.Process().pid) in owner
    assert port_owner("127.0.0.1", port) is None


# Its main thread exits and its other thread keeps the socket: what a killed JVM
# looks like while its last thread unmaps the heap.
MAIN_THREAD_EXITS = [
    sys.executable,
    "-c",
    "import ctypes, socket, threading, time;"
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen();"
    "print(s.getsockname()[1], flush=True);"
    "threading.Thread(target=time.sleep, args=(60,)).start();"
    "ctypes.CDLL(None).pthread_exit(None)",
]


def test_a_zombie_whose_threads_still_run_is_alive() -> None:
    proc = subprocess.Popen(MAIN_THREAD_EXITS, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        record = ProcessRecord(service="exiting", pids=[proc.pid], command=MAIN_THREAD_EXITS)
        deadline = time.monotonic() + 10
        while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE
        assert port_owner("127.0.0.1", port) is not None
        assert alive(record) == [proc.pid], "a zombie that still holds its socket is not gone yet"

        proc.kill()
        deadline = time.monotonic() + 10
        while psutil.Process(proc.pid).num_threads() > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert alive(record) == []  # a zombie and nothing more: dead, waiting to be reaped
    finally:
        proc.kill()
        proc.wait(10)
