"""The local Flink TaskManager as bench/flink_job.py measures it (a helper, not a bench).

Its processes (the JVM and the PyFlink Python workers it starts), their CPU
affinity and CPU time from /proc, what Flink's REST API says about slots,
jobs, checkpoints and the heap, and what its Prometheus reporters count.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "CpuSampler",
    "FlinkRest",
    "cpu_list",
    "descendants",
    "operator_metric",
    "pin",
    "source_records",
    "taskmanager_pid",
]

_RUNNER = b"org.apache.flink.runtime.taskexecutor.TaskManagerRunner"
_TICK = os.sysconf("SC_CLK_TCK")
_TERMINAL = {"CANCELED", "FAILED", "FINISHED"}
_RECORDS_OUT = "flink_taskmanager_job_task_operator_numRecordsOut"


def taskmanager_pid() -> int:
    """The pid of the TaskManager JVM: the process whose command line names TaskManagerRunner."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if _RUNNER in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue  # gone meanwhile
    if not found:
        raise SystemExit("no Flink TaskManager process (TaskManagerRunner) on this machine")
    return min(found)  # one TaskManager locally; the oldest if a restart overlaps


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(parent pid, utime + stime in ticks, start time) of a process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after its last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19])


def descendants(root: int) -> list[int]:
    """``root`` and every process whose parent chain leads to it (PyFlink's Python workers)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and (stat := _stat(int(proc.name))) is not None:
            children.setdefault(stat[0], []).append(int(proc.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def pin(root: int, cpus: set[int]) -> int:
    """Set the affinity of every thread of ``root`` and its descendants, as `taskset -a` does; threads set."""
    done = 0
    for pid in descendants(root):
        try:
            threads = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
        except OSError:
            continue
        for tid in threads:
            try:
                os.sched_setaffinity(tid, cpus)
                done += 1
            except OSError:
                continue  # the thread ended meanwhile
    return done


def cpu_list(cpus: Iterable[int]) -> str:
    """A CPU set as taskset writes it: 0-3,6."""
    ordered, ranges = sorted(cpus), []
    for cpu in ordered:
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)


class CpuSampler:
    """CPU seconds of the TaskManager and its descendants, sampled every ``every`` s in a thread.

    Each process counts with its latest utime + stime: a worker that exits
    keeps what it used up to its last sample, and the TaskManager's cutime
    (which would add the whole life of every reaped child, an earlier job's
    too) is not read.
    """

    def __init__(self, root: int, every: float = 0.5) -> None:
        self.root, self.every = root, every
        self.samples: list[tuple[float, float]] = []
        self._used: dict[tuple[int, int], int] = {}  # (pid, start time) -> ticks
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        for pid in descendants(self.root):
            if (stat := _stat(pid)) is not None:
                self._used[(pid, stat[2])] = stat[1]
        self.samples.append((time.time(), sum(self._used.values()) / _TICK))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def between(self, start: float, end: float) -> float:
        """CPU seconds used between two wall times (epoch s), interpolated between samples."""
        times, used = np.asarray(self.samples).T
        return float(np.interp(end, times, used) - np.interp(start, times, used))


class FlinkRest:
    """The few REST calls the bench makes against the session cluster."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str) -> dict | list:
        response = httpx.get(f"{self.url}{path}", timeout=10)
        response.raise_for_status()
        return response.json()

    def free_slots(self) -> int:
        return int(self.get("/overview")["slots-available"])  # type: ignore[call-overload]

    def running_jobs(self) -> dict[str, str]:
        """jid -> name of the jobs that are not over."""
        jobs = self.get("/jobs/overview")["jobs"]  # type: ignore[call-overload]
        return {j["jid"]: j["name"] for j in jobs if j["state"] not in _TERMINAL}

    def state(self, job_id: str) -> str:
        try:
            return str(self.get(f"/jobs/{job_id}")["state"])  # type: ignore[call-overload]
        except httpx.HTTPError:
            return "UNKNOWN"

    def cancel(self, job_id: str) -> None:
        httpx.patch(f"{self.url}/jobs/{job_id}", params={"mode": "cancel"}, timeout=10)

    def wait_over(self, job_id: str, timeout: float = 120.0) -> str:
        """Wait until the job is cancelled (or otherwise over), so that its slots are free again."""
        deadline = time.monotonic() + timeout
        while (state := self.state(job_id)) not in _TERMINAL and time.monotonic() < deadline:
            time.sleep(0.5)
        return state

    def latest_state_size(self, job_id: str) -> int | None:
        """Bytes of state in the job's latest completed checkpoint (the whole state, incremental or not)."""
        try:
            latest = self.get(f"/jobs/{job_id}/checkpoints")["latest"]["completed"]  # type: ignore[call-overload]
        except (httpx.HTTPError, KeyError, TypeError):
            return None
        return None if latest is None else int(latest["state_size"])

    def latest_state_by_vertex(self, job_id: str) -> dict[str, int] | None:
        """Bytes of state per job vertex (by name) in the job's latest completed checkpoint."""
        try:
            latest = self.get(f"/jobs/{job_id}/checkpoints")["latest"]["completed"]  # type: ignore[call-overload]
            if latest is None:
                return None
            names = {v["id"]: v["name"] for v in self.get(f"/jobs/{job_id}")["vertices"]}  # type: ignore[call-overload]
            tasks = self.get(f"/jobs/{job_id}/checkpoints/details/{latest['id']}")["tasks"]  # type: ignore[call-overload]
        except (httpx.HTTPError, KeyError, TypeError):
            return None
        return {names.get(vertex, vertex): int(task["state_size"]) for vertex, task in tasks.items()}

    def completed_checkpoints(self, job_id: str) -> int:
        try:
            return int(self.get(f"/jobs/{job_id}/checkpoints")["counts"]["completed"])  # type: ignore[call-overload]
        except (httpx.HTTPError, KeyError, TypeError):
            return 0

    def profile(self, seconds: int, timeout: float = 120.0) -> str:
        """async-profiler (ITIMER) on the first TaskManager for ``seconds``: its HTML flame graph."""
        manager = self.get("/taskmanagers")["taskmanagers"][0]["id"]  # type: ignore[call-overload,index]
        response = httpx.post(
            f"{self.url}/taskmanagers/{manager}/profiler",
            json={"mode": "ITIMER", "duration": seconds},
            timeout=10,
        )
        response.raise_for_status()
        started = response.json()["triggerTime"]
        deadline = time.monotonic() + seconds + timeout
        while time.monotonic() < deadline:
            time.sleep(1)
            runs = self.get(f"/taskmanagers/{manager}/profiler")["profilingList"]  # type: ignore[call-overload]
            run = next((r for r in runs if r["triggerTime"] == started), None)
            if run is not None and run["status"] == "FAILED":
                raise RuntimeError(f"Flink's profiler failed: {run['message']}")
            if run is not None and run["status"] == "FINISHED":
                path = f"/taskmanagers/{manager}/profiler/{run['outputFile']}"
                page = httpx.get(f"{self.url}{path}", timeout=30)
                page.raise_for_status()
                return page.text
        raise TimeoutError(f"Flink's profiler did not finish within {seconds + timeout:.0f} s")

    def vertex_metrics(self, job_id: str, names: tuple[str, ...]) -> dict[str, dict[str, float]]:
        """Each vertex's ``names`` metrics now, averaged over its subtasks: name -> metric -> value."""
        vertices = self.get(f"/jobs/{job_id}")["vertices"]  # type: ignore[call-overload]
        found: dict[str, dict[str, float]] = {}
        for vertex in vertices:
            metrics = self.get(
                f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics?get={','.join(names)}&agg=avg"
            )
            found[vertex["name"]] = {m["id"]: float(m["avg"]) for m in metrics}  # type: ignore[union-attr,index]
        return found

    def heap_used(self) -> int | None:
        """Bytes of JVM heap the (first) TaskManager uses now."""
        try:
            managers = self.get("/taskmanagers")["taskmanagers"]  # type: ignore[call-overload]
            metrics = self.get(f"/taskmanagers/{managers[0]['id']}/metrics?get=Status.JVM.Memory.Heap.Used")
        except (httpx.HTTPError, IndexError, KeyError):
            return None
        return int(float(metrics[0]["value"])) if metrics else None  # type: ignore[index]


def source_records(page: str, job_name: str) -> int:
    """Records the source operators of ``job_name`` have emitted, summed over their subtasks, as a
    TaskManager's Prometheus reporter counts them on ``page`` (read live, where Flink's REST metrics
    can be 10 s old)."""
    return operator_metric(page, job_name, _RECORDS_OUT, operator_prefix="Source:")


def operator_metric(page: str, job_name: str, metric: str, operator_prefix: str = "") -> int:
    """An operator metric of ``job_name`` on a Prometheus reporter's ``page``, summed over the
    subtasks of the operators whose name starts with ``operator_prefix``."""
    # The reporter writes label values with what is not [a-zA-Z0-9:_] as "_".
    job = re.sub(r"[^a-zA-Z0-9:_]", "_", job_name)
    total = 0.0
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if (
                sample.name == metric
                and sample.labels.get("job_name") == job
                and sample.labels.get("operator_name", "").startswith(operator_prefix)
            ):
                total += sample.value
    return int(total)
