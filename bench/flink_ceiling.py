"""The least a Flink job can do of the feedback job's work, beside the job and the Python consumer.

    .local/venv/bin/python bench/flink_ceiling.py --million-pairs 1 --parallelism 1 2 --state hashmap rocksdb

bench/ceiling/Ceiling.java is a DataStream job written by hand for speed: one
Kafka source for both topics, each event parsed once in the deserializer, one
keyed step per prediction id with one state value, window sums kept per
subtask. It leaves out the contract checks, dead letters, corrections,
quantiles, the metrics event and the lake (its docstring says what it does), so
its cost is a floor under any redesign of the feedback job's graph: if it
cannot reach a target on this machine, no graph of the job can.
With --windows sql its windows are Flink SQL window TVFs fed from the keyed
step's DataStream, as the job computes them: what keeping them in SQL costs.

Each round runs, on one backlog (flink_job.py's: 2-partition topics), the
ceiling job at every --parallelism and --state, and the feedback job itself
(bench/stages_job.py's `job`, RocksDB) at the first --parallelism; the Python
consumer runs once before the rounds. Rate and CPU as in flink_stages.py:
source records between 20 % and 90 % of the backlog, the TaskManager's and its
descendants' CPU over the same span.

The jar is compiled here with javac against the cluster's lib/ (Flink, its
Kafka connector): it is a bench, not part of closeloop's functions jar.

The last line: `ceiling_pairs_per_s=… ceiling_cpu_s_per_mpairs=… job_cpu_s_per_mpairs=…
python_pairs_per_s=… python_cpu_s_per_mpairs=…`, the ceiling at p2 with RocksDB
(or the last cell run) and the job at the first --parallelism.
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from flame import chain_name, frames
from flink_job import (
    CHECKPOINT_S,
    IDLE_SERVICES,
    LABEL_DELAY_S,
    PARTITIONS,
    SLIDING_S,
    WINDOW_S,
    Backlog,
    Bench,
    Cell,
    Profiler,
    cleanup,
    console,
    median_finite,
    python_runs,
)
from flink_stages import (
    StageRun,
    backlog_arguments,
    idle_bench,
    read_backlog,
    records_read,
    stage_run,
    timed_span,
)
from flink_taskmanager import CpuSampler, operator_metric, taskmanager_pid
from rich.table import Table

from closeloop.stack.layout import Layout
from closeloop.stack.services.flink import FlinkService

SOURCE = Path(__file__).resolve().parent / "ceiling" / "Ceiling.java"
MAIN_CLASS = "io.closeloop.bench.Ceiling"
CEILING = "ceiling"
PAIRS_METRIC = "flink_taskmanager_job_task_operator_pairs"


def flink_classpath(layout: Layout) -> list[Path]:
    """PyFlink's Flink and the Kafka connector: what the ceiling job compiles and runs against."""
    flink = sorted((layout.pyflink / "lib").glob("*.jar"))
    if not flink:
        raise SystemExit(f"no Flink jars under {layout.pyflink}: run `make setup`")
    return [*flink, *sorted(layout.flink_connectors.glob("*.jar"))]


def build_jar(layout: Layout, into: Path) -> Path:
    """Ceiling.java compiled against ``flink_classpath``, as ``into``/ceiling.jar.

    Built again when the source is newer than the jar.
    """
    jar = into / "ceiling.jar"
    if jar.exists() and jar.stat().st_mtime >= SOURCE.stat().st_mtime:
        return jar
    classpath = ":".join(map(str, flink_classpath(layout)))
    into.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as classes:
        subprocess.run(["javac", "-nowarn", "-d", classes, "-cp", classpath, str(SOURCE)], check=True)
        subprocess.run(["jar", "cf", str(jar), "-C", classes, "."], check=True)
    console.log(f"built {jar}")
    return jar


@contextlib.contextmanager
def ceiling_job(
    bench: Bench, backlog: Backlog, job_name: str, cell: Cell, jar: Path, windows: str
) -> Iterator[str]:
    """Submit the ceiling job detached with the feedback job's state settings; cancel it at the end,
    and remove its checkpoints."""
    flink = bench.stack.services["flink"]
    assert isinstance(flink, FlinkService)
    checkpoints = flink.data_dir / "checkpoints" / job_name
    options = {
        "execution.checkpointing.dir": checkpoints.as_uri(),
        "state.backend.type": cell.state,
        "state.backend.rocksdb.timer-service.factory": "HEAP",
        "state.backend.rocksdb.use-bloom-filter": "true",
        "state.backend.rocksdb.compression.per.level": "NO_COMPRESSION",
        "pipeline.object-reuse": "true",
        "execution.checkpointing.interval": f"{CHECKPOINT_S} s",
        "execution.checkpointing.incremental": "true",
    }
    command = [str(flink.flink_bin / "flink"), "run", "--detached", "-p", str(cell.parallelism)]
    command += [f"-D{key}={value}" for key, value in options.items()]
    command += ["-c", MAIN_CLASS, str(jar)]
    command += [
        bench.settings.kafka_bootstrap,
        backlog.topics.predictions,
        backlog.topics.feedback,
        job_name,
        str(backlog.features),
        str(WINDOW_S),
        str(SLIDING_S),
        str(LABEL_DELAY_S),
        windows,
    ]
    bench.wait_for_slots(cell.parallelism)
    done = subprocess.run(command, env=flink.environment(), capture_output=True, text=True, timeout=300)
    found = re.search(r"JobID ([0-9a-f]{32})", done.stdout)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"`flink run` of the ceiling job failed:\n{done.stdout}\n{done.stderr}")
    job_id = found.group(1)
    bench.ours.add(job_id)
    try:
        yield job_id
    finally:
        bench.rest.cancel(job_id)
        if (state := bench.rest.wait_over(job_id)) != "CANCELED":
            console.log(f"[yellow]job {job_name} ended {state}[/]")
        shutil.rmtree(checkpoints, ignore_errors=True)


def ceiling_run(
    bench: Bench, backlog: Backlog, cell: Cell, run: int, jar: Path, windows: str, profile_s: int = 0
) -> StageRun:
    """One submission of the ceiling job over the whole backlog; with ``profile_s``, a flame graph
    of that many seconds from 30 % of it."""
    job_name = f"{backlog.prefix}-ceiling-{windows}-p{cell.parallelism}-{cell.state}-r{run}"
    label = cell.state if windows == "datastream" else f"{cell.state}, SQL windows"
    what = f"ceiling p{cell.parallelism}, {label}"
    events = 2 * (backlog.pairs + PARTITIONS)
    bench.stack.up(list(IDLE_SERVICES), report=lambda s, m: console.log(f"{s}: {m}"))
    bench.cpu_set()
    profiler: Profiler | None = None
    with (
        CpuSampler(taskmanager_pid()) as sampler,
        ceiling_job(bench, backlog, job_name, cell, jar, windows) as job_id,
    ):

        def profile(read: int) -> None:
            nonlocal profiler
            if profile_s and profiler is None and read >= 0.3 * events:
                profiler = Profiler(bench, job_id, profile_s, bench.settings.state_dir / "bench" / job_name)

        marks = read_backlog(bench, job_id, job_name, events, what, profile)
        if profiler is not None and (page := profiler.saved()) is not None:
            report_profile(page, profiler.loads)
        targets = bench.stack.services["flink"].scrape_targets()["flink"]  # type: ignore[attr-defined]
        check_pairs(targets, job_name, backlog.pairs + PARTITIONS)
    rate, cpu = timed_span(marks, events, sampler, what)
    console.log(f"{what}, run {run + 1}: {rate:,.0f} pairs/s, {cpu:,.1f} CPU-s per M pairs")
    return StageRun(CEILING, cell.parallelism, rate, cpu, label)


def pairs_made(page: str, job_name: str) -> int:
    """The ceiling job's `pairs` counter (its PairJoin's) on a reporter's page, over subtasks."""
    return operator_metric(page, job_name, PAIRS_METRIC)


def check_pairs(targets: list[str], job_name: str, expected: int, timeout_s: float = 180) -> None:
    """Wait until the ceiling job has paired the whole backlog, once each: its figures count only then."""
    deadline = time.monotonic() + timeout_s
    while (made := records_read(targets, job_name, pairs_made)) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    if made != expected:
        raise SystemExit(
            f"{job_name} made {made:,} pairs of the backlog's {expected:,}: its figures do not count"
        )
    console.log(f"{job_name}: all {made:,} pairs made, each once")


def report_profile(page: Path, loads: list[tuple[str, float, float, float]]) -> None:
    """The hottest frames by their own samples, and each chain's busy and backpressured time."""
    found = frames(page.read_text())
    total = found[0].width if found else 0
    own: Counter[str] = Counter()
    for frame in found:
        own[frame.name] += frame.samples
    table = Table(title=f"ceiling job: the hottest frames of {total:,} samples ({page})")
    table.add_column("frame")
    table.add_column("own share", justify="right")
    for name, samples in own.most_common(25):
        table.add_row(name[:110], f"{samples / max(total, 1):.1%}")
    console.print(table)
    for vertex, busy, backpressured, _idle in loads:
        console.log(f"{chain_name(vertex)}: busy {busy:.0%}, backpressured {backpressured:.0%}")


def main() -> None:
    parser = backlog_arguments(__doc__)
    parser.add_argument("--state", nargs="+", choices=["rocksdb", "hashmap"], default=["rocksdb", "hashmap"])
    parser.add_argument(
        "--windows",
        nargs="+",
        choices=["datastream", "sql"],
        default=["datastream"],
        help="the ceiling's windows: hand-written sums, or Flink SQL window TVFs (default datastream)",
    )
    parser.add_argument("--runs", type=int, default=3, help="rounds, cells in turns (default 3)")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="S", help="flame graph of S s of the first p2 run"
    )
    parser.add_argument("--no-job", action="store_true", help="leave the feedback job out of the rounds")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    pairs = int(args.million_pairs * 1_000_000)

    bench, backlog = idle_bench(args.cpus, pairs, args.features)
    settings = bench.settings
    jar = build_jar(bench.stack.layout, settings.state_dir / "bench")
    runs: list[StageRun] = []
    try:
        python = python_runs(bench, backlog, 1)[0]
        for run in range(args.runs):
            for parallelism in args.parallelism:
                for state in args.state:
                    for windows in args.windows:
                        first = (run, parallelism, state, windows) == (0, 2, args.state[0], args.windows[0])
                        cell = Cell(parallelism, state, "idle")
                        runs.append(
                            ceiling_run(bench, backlog, cell, run, jar, windows, args.profile * first)
                        )
            if not args.no_job:
                job = Cell(args.parallelism[0], "rocksdb", "idle")
                runs.append(stage_run(bench, backlog, "job", job, run, "rocksdb"))
    finally:
        bench.unpin()
        cleanup(settings, [backlog.prefix])

    table = Table(
        title=f"the ceiling job beside the feedback job, {pairs:,} pairs, {args.features} features, "
        f"CPUs {' / '.join(sorted(bench.seen))}"
    )
    for column in ("run", "pairs/s", "CPU-s per M pairs", "min-max", "pairs/s vs python"):
        table.add_column(column, justify="left" if column == "run" else "right")
    table.add_row(
        "python consumer (no lake, no checkpoints)",
        f"{python.rate:,.0f}",
        f"{python.cpu_s_per_mpairs:,.1f}",
        "",
        "1.00",
    )
    medians: dict[tuple[str, int, str], tuple[float, float]] = {}
    cells = sorted(
        {(r.stage, r.parallelism, r.build) for r in runs}, key=lambda c: (c[0] != CEILING, c[1], c[2])
    )
    for stage, parallelism, state in cells:
        these = [r for r in runs if (r.stage, r.parallelism, r.build) == (stage, parallelism, state)]
        cpus = [r.cpu_s_per_mpairs for r in these]
        rate, cpu = median_finite([r.rate for r in these]), median_finite(cpus)
        medians[(stage, parallelism, state)] = (rate, cpu)
        what = "ceiling job" if stage == CEILING else "feedback job"
        table.add_row(
            f"{what} p{parallelism}, {state}",
            f"{rate:,.0f}",
            f"{cpu:,.1f}",
            f"{min(cpus):,.1f}-{max(cpus):,.1f}",
            f"{rate / python.rate:.2f}",
        )
    console.print(table)
    ceiling = medians.get((CEILING, 2, "rocksdb")) or next(
        (v for k, v in reversed(medians.items()) if k[0] == CEILING), (math.nan, math.nan)
    )
    job = next((v for k, v in medians.items() if k[0] == "job"), (math.nan, math.nan))
    print(
        f"ceiling_pairs_per_s={ceiling[0]:.0f} ceiling_cpu_s_per_mpairs={ceiling[1]:.1f} "
        f"job_cpu_s_per_mpairs={job[1]:.1f} python_pairs_per_s={python.rate:.0f} "
        f"python_cpu_s_per_mpairs={python.cpu_s_per_mpairs:.1f}"
    )


if __name__ == "__main__":
    main()
