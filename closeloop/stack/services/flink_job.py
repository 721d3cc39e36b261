"""A job on the local Flink session cluster, submitted with `flink run -py`: what every such service does.

Not a process of its own: `up` submits it (or adopts a running job of the same
name), `status` asks Flink's REST API for its state, and `down` cancels it.
A job that resumes (``resumes``) keeps its checkpoints: the next `up` starts it
from the latest one, after a `down` as after a crash of the whole cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx

from closeloop.errors import StackError, WaitTimeout
from closeloop.stack.process import ProcessRecord
from closeloop.stack.service import Health, Service
from closeloop.stack.services.flink import FlinkService
from closeloop.streaming.checkpoints import job_checkpoints_dir, latest_checkpoint, local_path
from closeloop.waiting import wait_until

__all__ = ["FlinkJobService"]

_ACTIVE = {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "RECONCILING"}
#: Words of Flink's failures to restore a state that no longer fits the job's operators.
_STATE_MISFITS = (
    "Incompatible key/value state types",
    "StateMigrationException",
    "Cannot map checkpoint/savepoint state",
    "is not compatible",
)
#: How long `down` waits for a cancelled job to let go of its slots and its sources.
_CANCEL_TIMEOUT_S = 120.0


class FlinkJobService(Service):
    """A subclass names the job's script, its name and the settings it is submitted with."""

    depends_on = ("kafka", "flink")
    # Submitting starts a Python client and plans the SQL: tens of seconds on 2 cores.
    startup_timeout = 180.0
    #: Whether `up` starts the job from its latest checkpoint (a job with state of its own).
    resumes = True

    @property
    def flink(self) -> FlinkService:
        return FlinkService(self.settings, self.layout)

    @property
    def port(self) -> int:
        return self.settings.flink_rest_port

    @property
    def ports(self) -> list[int]:
        return []  # it listens on nothing; Flink does

    @property
    def url(self) -> str:
        return f"{self.flink.url}/#/job/running"

    @property
    def job_file(self) -> Path:
        raise NotImplementedError

    @property
    def job_name(self) -> str:
        raise NotImplementedError

    @property
    def checkpoints_dir(self) -> str:
        """Where the job keeps its checkpoints: the cluster's folder, unless a subclass says otherwise."""
        return (self.flink.data_dir / "checkpoints").as_uri()

    def job_environment(self) -> dict[str, str]:
        """What the job's script is told besides the stack's settings."""
        return {}

    def missing(self) -> list[str]:
        return self.flink.missing()

    def log_files(self) -> list[Path]:
        return [self.log_path]

    def resume_from(self) -> Path | None:
        """The latest complete checkpoint of this job, if it resumes and they are on a local file system."""
        if not self.resumes:
            return None
        folder = local_path(job_checkpoints_dir(self.checkpoints_dir, self.job_name))
        return latest_checkpoint(folder) if folder else None

    def environment(self) -> dict[str, str]:
        # The job reads closeloop's settings at submission.
        return {**self.flink.environment(), **self.closeloop_environment(), **self.job_environment()}

    # Flink's REST API -------------------------------------------------------------------
    def _get(self, path: str) -> dict:
        response = httpx.get(f"{self.flink.url}{path}", timeout=5)
        response.raise_for_status()
        return response.json()

    def _job_state(self, job_id: str) -> str | None:
        try:
            return self._get(f"/jobs/{job_id}")["state"]
        except httpx.HTTPError:
            return None

    def _active_job(self) -> str | None:
        """The id of a job of this name the cluster is running, if any."""
        try:
            jobs = self._get("/jobs/overview")["jobs"]
        except httpx.HTTPError:
            return None
        for job in jobs:
            if job["name"] == self.job_name and job["state"] in _ACTIVE:
                return job["jid"]
        return None

    def _root_exception(self, job_id: str) -> str:
        """The job's last failure as Flink's trace; empty if none or Flink does not answer."""
        try:
            exceptions = self._get(f"/jobs/{job_id}/exceptions")
        except httpx.HTTPError:
            return ""
        return (exceptions.get("root-exception") or "").strip()

    def _failure(self, job_id: str) -> str:
        root = self._root_exception(job_id).splitlines()
        return root[0][:300] if root else ""

    # Lifecycle --------------------------------------------------------------------------
    def start(self) -> ProcessRecord:
        checkpoint = self.resume_from()
        command = self.flink.submit_command(self.job_file, detached=True, savepoint=checkpoint)
        if (job_id := self._active_job()) is None:
            what = f"resuming {self.name} from {checkpoint}" if checkpoint else f"submitting {self.name}"
            try:
                with self.flink.client_class_sharing.jvm_args() as jvm_args:
                    # After the caller's own JVM_ARGS, not instead of them.
                    own = self.environment().get("JVM_ARGS", "")
                    output = self.run_once(
                        command,
                        what=what,
                        timeout=self.startup_timeout,
                        env={"JVM_ARGS": " ".join(a for a in (own, jvm_args) if a)},
                    )
            except StackError as exc:
                if checkpoint is None:
                    raise
                raise StackError(
                    f"{exc}. A job whose SQL or settings changed may not fit the state in {checkpoint}: "
                    f"move {checkpoint.parent.parent} away to start afresh"
                ) from exc
            found = re.search(r"JobID ([0-9a-f]{32})", output)
            if found is None:
                raise StackError(f"{self.name}: `flink run` printed no job id; see {self.log_path}")
            job_id = found.group(1)
        return ProcessRecord(service=self.name, pids=[], command=command, job_id=job_id)

    def running(self, record: ProcessRecord | None) -> list[str]:
        if record is None or record.job_id is None:
            return []
        return [f"job {record.job_id[:8]}"] if self._job_state(record.job_id) in _ACTIVE else []

    def not_running(self, record: ProcessRecord | None) -> str:
        if record is None or record.job_id is None:
            return "not submitted"
        state = self._job_state(record.job_id) or "unknown (is Flink up?)"
        failure = self._failure(record.job_id) if state == "FAILED" else ""
        return f"job {state}" + (f": {failure}" if failure else "")

    def terminate(self, record: ProcessRecord, *, report: Callable[[str], None]) -> None:
        if record.job_id is None:
            return
        try:
            httpx.patch(f"{self.flink.url}/jobs/{record.job_id}", params={"mode": "cancel"}, timeout=10)
        except httpx.HTTPError as exc:
            report(f"could not cancel job {record.job_id}: {exc}")
            return
        # Stopped means stopped: until its tasks end, the job holds its slots, its Kafka
        # clients and its Python workers, and what stops next (a broker, a topic) pulls
        # them out from under a task that is still closing.
        job_id = record.job_id
        try:
            wait_until(
                lambda: self._job_state(job_id) not in {*_ACTIVE, "CANCELLING", "FAILING"},
                _CANCEL_TIMEOUT_S,
                f"job {job_id[:8]} to end",
                interval=0.5,
            )
        except WaitTimeout as exc:
            report(f"cancelled, but not ended: {exc}")

    def probe(self) -> Health:
        job_id = self._active_job()
        if job_id is None:
            return Health(False, "no running job")
        state = self._job_state(job_id)
        detail = f"job {job_id[:8]} {state}"
        if state == "RESTARTING":
            detail += self._why_restarting(job_id)
        return Health(state == "RUNNING", detail)

    def _why_restarting(self, job_id: str) -> str:
        """Its last failure; and where that is a state its checkpoint holds, what to do about it."""
        trace = self._root_exception(job_id)
        if not trace:
            return ""
        why = f": {trace.splitlines()[0][:300]}"
        misfits = [line.strip() for line in trace.splitlines() if any(m in line for m in _STATE_MISFITS)]
        cause = misfits[0] if misfits else None
        if cause is not None and (checkpoint := self.resume_from()) is not None:
            # Flink restarts such a job forever: each attempt fails on the same restore.
            why += (
                f". It cannot restore the state in {checkpoint} ({cause[:200]}), as after a change of "
                f"the job's functions or SQL: move {checkpoint.parent.parent} away to start afresh"
            )
        return why

    def urls(self) -> dict[str, str]:
        return {self.name.replace("-", " "): self.url}
