"""`closeloop up | down | status`: start, stop and inspect the local stack."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from closeloop.errors import ServiceUnhealthyError, SetupMissingError, StackError
from closeloop.stack.layout import Layout
from closeloop.stack.process import ProcessRecord, marked_processes, port_owner, stop
from closeloop.stack.registry import build_services
from closeloop.stack.service import Health, Service
from closeloop.stack.settings import StackSettings

__all__ = ["LocalStack", "ServiceStatus", "log_tail"]

#: How often `up` probes the services it waits for.
_POLL_S = 0.5
#: How often `up` says which services it is still waiting for.
_NAG_S = 15.0

Reporter = Callable[[str, str], None]


def _quiet(_service: str, _message: str) -> None:
    return None


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    #: What runs: pids, or for a Flink job its id.
    ids: list[str]
    port: int
    url: str
    health: Health

    @property
    def running(self) -> bool:
        return bool(self.ids)


def log_tail(service: Service, lines: int = 40) -> str:
    """The last lines of each of the service's log files."""
    chunks = []
    for path in service.log_files():
        if path.exists():
            text = path.read_text(errors="replace").splitlines()[-lines:]
            chunks.append(f"==> {path} <==\n" + "\n".join(text))
    return "\n".join(chunks) or f"(no log yet at {service.log_path})"


class LocalStack:
    """The services of one state directory, started and stopped as a unit."""

    def __init__(self, settings: StackSettings, layout: Layout | None = None) -> None:
        self.settings = settings
        self.layout = layout or Layout.from_settings(settings)
        self.services = {s.name: s for s in build_services(settings, self.layout)}

    # Selection --------------------------------------------------------------------
    def select(self, names: Iterable[str] | None, *, with_dependencies: bool) -> list[Service]:
        """The named services (all if None), optionally with what they depend on, in start order."""
        if not names:
            return list(self.services.values())
        wanted: set[str] = set()
        pending = list(names)
        while pending:
            name = pending.pop()
            if name not in self.services:
                known = ", ".join(self.services)
                raise StackError(f"unknown service {name!r}; the stack has: {known}")
            if name not in wanted:
                wanted.add(name)
                if with_dependencies:
                    pending.extend(self.services[name].depends_on)
        return [s for s in self.services.values() if s.name in wanted]

    # Inspection -------------------------------------------------------------------
    def _record(self, service: Service) -> ProcessRecord | None:
        return ProcessRecord.load(self.layout.run, service.name)

    def running(self, service: Service) -> list[str]:
        """What of the service runs now: pids, or a Flink job id."""
        return service.running(self._record(service))

    def status(self, names: Iterable[str] | None = None) -> list[ServiceStatus]:
        result = []
        for service in self.select(names, with_dependencies=False):
            record = self._record(service)
            running = service.running(record)
            health = service.probe() if running else Health(False, service.not_running(record))
            result.append(ServiceStatus(service.name, running, service.port, service.url, health))
        return result

    # Start ------------------------------------------------------------------------
    def up(self, names: Iterable[str] | None = None, *, report: Reporter = _quiet) -> list[ServiceStatus]:
        """Start what is not running, wait until everything is healthy, create topics and buckets.

        Raises SetupMissingError before starting anything if an install is
        missing, StackError if a port is taken, and ServiceUnhealthyError naming
        the first service that does not become healthy in time. Services that
        are already running are left alone. Each service comes up in a thread of
        its own as soon as what it depends on is healthy.
        """
        chosen = self.select(names, with_dependencies=True)
        for service in chosen:
            if missing := service.missing():
                raise SetupMissingError(service.name, missing)
        for service in chosen:
            if not self.running(service):
                self._check_ports(service)

        ready = {service.name: threading.Event() for service in chosen}
        failed = threading.Event()
        errors: list[Exception] = []

        def bring_up(service: Service) -> None:
            try:
                for dependency in service.depends_on:
                    while not ready[dependency].wait(_POLL_S):
                        if failed.is_set():
                            return
                if self._bring_up(service, report, failed):
                    ready[service.name].set()
            except Exception as exc:
                errors.append(exc)
                failed.set()

        with ThreadPoolExecutor(max_workers=len(chosen), thread_name_prefix="up") as pool:
            list(pool.map(bring_up, chosen))
        if errors:
            raise errors[0]
        return self.status([s.name for s in chosen])

    def _bring_up(self, service: Service, report: Reporter, failed: threading.Event) -> bool:
        """Start one service if needed and wait until it is healthy; False if `up` gave up."""
        started = time.monotonic()
        record = self._record(service)
        if record is not None and (dead := service.partly_dead(record)):
            # Half a service is no service: waiting for it to heal would only time out.
            report(service.name, f"part of it died (pid {', '.join(map(str, dead))}): restarting it")
            service.terminate(record, report=lambda message: report(service.name, message))
        if self.running(service):
            if service.probe().ok:
                # Idempotent: recreates topics or buckets deleted while the stack ran.
                service.provision()
                report(service.name, "already running")
                return True
            report(service.name, "running, waiting until healthy")
        else:
            report(service.name, "starting")
            service.prepare()
            service.start().save(self.layout.run)
        last_nag = time.monotonic()
        deadline = started + self._timeout(service)
        while not failed.is_set():
            if not self.running(service):
                raise ServiceUnhealthyError(service.name, "its process exited", log_tail(service))
            health = service.probe()
            now = time.monotonic()
            if health.ok:
                service.provision()
                report(service.name, f"healthy in {now - started:.1f} s")
                return True
            if now > deadline:
                reason = f"not healthy after {self._timeout(service):.0f} s ({health.detail})"
                raise ServiceUnhealthyError(service.name, reason, log_tail(service))
            if now - last_nag > _NAG_S:
                last_nag = now
                report(service.name, f"still waiting ({now - started:.0f} s): {health.detail}")
            time.sleep(_POLL_S)
        return False

    def _timeout(self, service: Service) -> float:
        return min(service.startup_timeout, self.settings.startup_timeout_s)

    def _check_ports(self, service: Service) -> None:
        for port in service.ports:
            if owner := port_owner(self.settings.host, port):
                raise StackError(
                    f"{service.name} cannot start: port {port} is in use by {owner}. "
                    f"Stop it, or move {service.name} with a CLOSELOOP_*_PORT setting."
                )

    # Stop -------------------------------------------------------------------------
    def down(self, names: Iterable[str] | None = None, *, report: Reporter = _quiet) -> None:
        """Stop the named services (all if None) by the pids `up` recorded, in reverse order.

        Stopping everything also stops any process still carrying this stack's
        marker, so that nothing is left behind.
        """
        for service in reversed(self.select(names, with_dependencies=False)):
            record = self._record(service)
            if record is None:
                continue
            if running := service.running(record):
                report(service.name, f"stopping {', '.join(running)}")
                service.terminate(record, report=partial(report, service.name))
            ProcessRecord.forget(self.layout.run, service.name)
            report(service.name, "stopped")
        if not names:
            leftovers = marked_processes(str(self.layout.state))
            if leftovers:
                report("stack", f"stopping leftover processes {[p.pid for p in leftovers]}")
                stop(leftovers)
