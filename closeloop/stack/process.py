"""Start, find and stop the local stack's processes by pid.

Every process `closeloop up` starts runs in a session of its own, logs to one
file, and carries ``CLOSELOOP_STACK_DIR`` in its environment. The pid record
written at start is how `down` stops it; the environment marker is how `down`
proves nothing was left behind (children a service forked, say).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

__all__ = [
    "STACK_MARKER",
    "ProcessRecord",
    "alive",
    "boot_id",
    "marked_processes",
    "port_owner",
    "since_boot",
    "spawn",
    "started_since_boot",
    "stop",
]

STACK_MARKER = "CLOSELOOP_STACK_DIR"


def boot_id() -> str:
    """Which boot of the machine this is: pids recorded in another boot were recycled since."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        # Not Linux: the boot time stands in, though a wall-clock jump moves it.
        return f"{psutil.boot_time():.0f}"


def since_boot() -> float:
    """Now, in seconds since boot, on the clock that a Linux process's start time uses."""
    clock = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
    return time.clock_gettime(clock)


def started_since_boot(proc: psutil.Process) -> float:
    """When the process started, in seconds since boot.

    psutil's ``create_time`` is the boot time plus the process's start, and the boot
    time is the wall clock minus the uptime: when the wall clock jumps (a virtual
    machine resumed from a pause sets it forward), every ``create_time`` jumps with
    it. The process's age, the wall clock minus ``create_time`` read together, does not.
    """
    return since_boot() - (time.time() - proc.create_time())


@dataclass
class ProcessRecord:
    """What `up` remembers about one service's processes, saved as JSON in the run dir."""

    service: str
    pids: list[int]
    command: list[str]
    #: When the record was made, on a clock that wall-clock jumps do not move, and in
    #: which boot: a pid started later, or in another boot, was recycled.
    boot_id: str | None = field(default_factory=boot_id)
    started_since_boot: float | None = field(default_factory=since_boot)
    #: For a job submitted to a cluster rather than a process: its id there.
    job_id: str | None = None

    def save(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / f"{self.service}.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, run_dir: Path, service: str) -> ProcessRecord | None:
        path = run_dir / f"{service}.json"
        if not path.exists():
            return None
        saved = json.loads(path.read_text())
        # A record from an older closeloop has no boot clock (and a wall-clock
        # `started_at`): its pids are taken as they are.
        known = {name: saved[name] for name in cls.__dataclass_fields__ if name in saved}
        return cls(**{"boot_id": None, "started_since_boot": None, **known})

    @staticmethod
    def forget(run_dir: Path, service: str) -> None:
        (run_dir / f"{service}.json").unlink(missing_ok=True)


def _process(pid: int, record: ProcessRecord) -> psutil.Process | None:
    """The live process with this pid, unless the pid was recycled by a newer process.

    A zombie counts as live while other threads of it still exit: after a
    `kill -9`, the main thread turns zombie at once, but the last thread to go
    closes the files, listening sockets included, once it has unmapped the
    memory, which takes seconds for a JVM of several GB on a busy machine.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE and proc.num_threads() <= 1:
            return None
        # A pid reused after the service died belongs to a process started later.
        if record.started_since_boot is not None and started_since_boot(proc) > record.started_since_boot + 5:
            return None
        return proc
    except psutil.NoSuchProcess:
        return None


def alive(record: ProcessRecord) -> list[int]:
    """The pids of the record that still run."""
    if record.boot_id is not None and record.boot_id != boot_id():
        return []  # recorded before the machine last booted: its pids were all recycled since
    return [pid for pid in record.pids if _process(pid, record) is not None]


def spawn(
    command: list[str],
    *,
    log_path: Path,
    env: dict[str, str],
    cwd: Path,
    marker: str,
) -> subprocess.Popen[bytes]:
    """Start ``command`` detached, in its own session, appending its output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(command)}\n".encode())
        log.flush()
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env={**env, STACK_MARKER: marker},
            start_new_session=True,
        )


def marked_processes(marker: str) -> list[psutil.Process]:
    """Every live process started by the stack whose state directory is ``marker``."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid == os.getpid() or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get(STACK_MARKER) == marker:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _with_descendants(procs: list[psutil.Process]) -> list[psutil.Process]:
    everything: dict[int, psutil.Process] = {}
    for proc in procs:
        everything[proc.pid] = proc
        try:
            for child in proc.children(recursive=True):
                everything[child.pid] = child
        except psutil.NoSuchProcess:
            continue
    return list(everything.values())


def stop(procs: list[psutil.Process], *, timeout: float = 30.0) -> list[int]:
    """SIGTERM the processes and their descendants, SIGKILL what outlives ``timeout``.

    Returns the pids that had to be killed.
    """
    targets = _with_descendants(procs)
    for proc in targets:
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            continue
    _, survivors = psutil.wait_procs(targets, timeout=timeout)
    for proc in survivors:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(survivors, timeout=5)
    return [p.pid for p in survivors]


def port_owner(host: str, port: int) -> str | None:
    """Who listens on ``host:port``, as "pid N (name)", "unknown process", or None if free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        if sock.connect_ex((host, port)) != 0:
            return None
    try:
        for conn in psutil.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    break
                return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        pass
    return "unknown process"
