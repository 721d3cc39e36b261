"""The contract every service of the local stack fulfils, and its common plumbing."""

from __future__ import annotations

import os
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import httpx
import psutil

from closeloop.errors import StackError
from closeloop.stack.layout import Layout
from closeloop.stack.process import ProcessRecord, alive, spawn, stop
from closeloop.stack.settings import StackSettings

__all__ = ["Health", "Service", "http_probe"]


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str = ""


def http_probe(url: str, *, check: Callable[[httpx.Response], str | None] | None = None) -> Health:
    """GET ``url``: healthy on a 2xx for which ``check`` (if any) returns no complaint."""
    try:
        response = httpx.get(url, timeout=3.0)
    except httpx.HTTPError as exc:
        return Health(False, f"{url}: {type(exc).__name__}")
    if not response.is_success:
        return Health(False, f"{url}: HTTP {response.status_code}")
    complaint = check(response) if check else None
    return Health(complaint is None, complaint or "")


class Service(ABC):
    """One process (or a few) of the local stack.

    Subclasses say how to prepare the service's files, the command that runs
    it, how to tell it is healthy, and what to create once it is (topics,
    buckets). `up` calls, in order: ``prepare``, ``start``, ``probe`` until
    healthy, ``provision``.
    """

    name: ClassVar[str]
    depends_on: ClassVar[tuple[str, ...]] = ()
    #: Seconds from start to healthy before `up` gives up on this service.
    startup_timeout: ClassVar[float] = 120.0

    def __init__(self, settings: StackSettings, layout: Layout) -> None:
        self.settings = settings
        self.layout = layout

    # Identity -----------------------------------------------------------------
    @property
    @abstractmethod
    def port(self) -> int: ...

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    @property
    def ports(self) -> list[int]:
        """Every port the service listens on; `up` refuses to start if one is taken."""
        return [self.port]

    @property
    def log_path(self) -> Path:
        return self.layout.logs / f"{self.name}.log"

    def log_files(self) -> list[Path]:
        """The files `closeloop logs SERVICE` shows."""
        return [self.log_path]

    @property
    def data_dir(self) -> Path:
        return self.layout.data(self.name)

    # Lifecycle ------------------------------------------------------------------
    def missing(self) -> list[str]:
        """What `make setup` should have installed but did not, as human-readable items."""
        return []

    def prepare(self) -> None:
        """Write configuration and initialise storage. Must be idempotent."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        raise NotImplementedError(f"{self.name} has no single command; it overrides start()")

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def closeloop_environment(self) -> dict[str, str]:
        """For closeloop's own programs, which read the same settings: what the stack derived."""
        s = self.settings
        return {
            "CLOSELOOP_STATE_DIR": str(self.layout.state),
            "CLOSELOOP_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "CLOSELOOP_S3_ENDPOINT": s.s3_endpoint,
            "CLOSELOOP_MLFLOW_TRACKING_URI": s.mlflow_tracking_uri,
        }

    def start(self) -> ProcessRecord:
        """Start the service detached and return the record of its processes."""
        command = self.command()
        proc = spawn(
            command,
            log_path=self.log_path,
            env=self.environment(),
            cwd=self.data_dir,
            marker=str(self.layout.state),
        )
        return ProcessRecord(service=self.name, pids=[proc.pid], command=command)

    def running(self, record: ProcessRecord | None) -> list[str]:
        """What of the service runs now, by the record `start` wrote: its live pids."""
        return [str(pid) for pid in alive(record)] if record else []

    def partly_dead(self, record: ProcessRecord | None) -> list[int]:
        """The pids of the record that died while others still run (a Flink TaskManager lost to an OOM)."""
        live = set(alive(record)) if record else set()
        return [pid for pid in record.pids if pid not in live] if record and live else []

    def not_running(self, record: ProcessRecord | None) -> str:
        """Why the service is not running, for `status`."""
        return "not running"

    def terminate(self, record: ProcessRecord, *, report: Callable[[str], None]) -> None:
        """Stop what `start` started: its processes and their children, SIGTERM then SIGKILL."""
        procs = []
        for pid in alive(record):
            try:
                procs.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                continue
        if killed := stop(procs):
            report(f"killed after the grace period: {killed}")

    @abstractmethod
    def probe(self) -> Health:
        """One health check; never raises."""

    def provision(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Create what the stack needs inside the healthy service. Must be idempotent."""

    def urls(self) -> dict[str, str]:
        """The URLs worth printing for a person, by label."""
        return {self.name: self.url}

    def scrape_targets(self) -> dict[str, list[str]]:
        """Prometheus targets ("host:port") by job name, as docker/prometheus/prometheus.yml names them."""
        return {}

    # Helpers --------------------------------------------------------------------
    def run_once(
        self, command: list[str], *, what: str, timeout: float = 120.0, env: Mapping[str, str] | None = None
    ) -> str:
        """Run a one-shot setup command and return its stdout; its output also goes to the log.

        ``env``: variables for this run, over the service's ``environment()``.
        """
        # Its working directory: a service may be used without ever having been started here.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            command,
            capture_output=True,
            env={**self.environment(), **(env or {})},
            cwd=self.data_dir,
            timeout=timeout,
            check=False,
        )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n--- {what}: {' '.join(command)}\n".encode())
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise StackError(
                f"{self.name}: {what} failed with exit code {result.returncode}; see {self.log_path}"
            )
        return result.stdout.decode()
