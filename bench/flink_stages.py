"""What each stage of the feedback job costs, beside the Python consumer, on one backlog.

    .local/venv/bin/python bench/flink_stages.py --million-pairs 1 --parallelism 1 2

bench/flink_job.py says how fast the whole job is; this says where its CPU
goes, and what the cheapest Flink job that reads the same topics costs. Each
run submits the job cut after one stage (bench/stages_job.py: kafka, front,
facts, aggregates, windows, job; each includes the ones
before) and reads the same backlog as flink_job.py's (2-partition topics, key:
the prediction id). The stages take turns, --runs rounds; each is reported as
the median of its runs.

Rate: events the sources emitted (Flink's numRecordsOut of every source
operator, summed over subtasks) per second of wall time between 20 % and
90 % of the backlog's events, as pairs (two events a pair). CPU: the
TaskManager's and its descendants' CPU seconds over the same span, per million
pairs. A stage's own cost is its CPU-s per M pairs less the stage before's.
The Python consumer (bench/python_consumer.py) runs once on the same CPUs
(its windows, checks and label choice; no lake, no checkpoints).

With --jars A.jar B.jar the stages run once per build of closeloop's Flink
functions (flink/functions) in every round, the builds in turns, Flink
restarted with each: two builds compared on one backlog, within minutes of
each other, medians of the same number of runs. A change worth a few CPU-s per
million pairs is lost in the drift between two runs of this bench half an hour
apart. Build a jar with `make` and copy it aside before changing the code.

The last line: `kafka_cpu_s_per_mpairs=… job_cpu_s_per_mpairs=…
python_cpu_s_per_mpairs=…` at the first --parallelism (of the first jar).
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from flink_job import (
    BACKLOG_RATE,
    IDLE_SERVICES,
    PARTITIONS,
    Backlog,
    Bench,
    Cell,
    cleanup,
    console,
    job_environment,
    median_finite,
    python_runs,
)
from flink_taskmanager import CpuSampler, cpu_list, source_records, taskmanager_pid
from rich.table import Table
from stages_job import STAGES

from closeloop.stack.layout import Layout
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.feedback_job import FeedbackJobService
from closeloop.stack.settings import get_stack_settings


class StageJobService(FeedbackJobService):
    """The feedback job's service, submitting bench/stages_job.py (BENCH_STAGE picks the cut)."""

    @property
    def job_file(self) -> Path:
        return Path(__file__).resolve().parent / "stages_job.py"


@dataclass(frozen=True)
class BuildLayout(Layout):
    """The stack's layout with another build of closeloop's Flink functions in Flink's lib."""

    jar: Path = Path()

    @property
    def flink_functions(self) -> Path:
        return self.jar


def use_build(bench: Bench, jar: Path | None) -> None:
    """Stop Flink and have it start next with ``jar`` (None: the stack's own build)."""
    flink = bench.stack.services["flink"]
    base = bench.stack.layout
    wanted = base if jar is None else BuildLayout(home=base.home, state=base.state, jar=jar)
    if flink.layout != wanted:
        bench.stack.down(["flink"], report=lambda s, m: console.log(f"{s}: {m}"))
        flink.layout = wanted


def records_read(targets: list[str], job_name: str, count: Callable[[str, str], int] = source_records) -> int:
    """Records the job's sources have emitted (or what ``count`` reads off a page), summed over
    every TaskManager's Prometheus reporter."""
    total = 0
    for target in targets:
        try:
            page = httpx.get(f"http://{target}/metrics", timeout=5).text
        except httpx.HTTPError:  # the JobManager's port, or a reporter not up yet
            continue
        total += count(page, job_name)
    return total


def read_backlog(
    bench: Bench,
    job_id: str,
    job_name: str,
    events: int,
    label: str,
    on_mark: Callable[[int], None] | None = None,
) -> list[tuple[float, int]]:
    """(time, records the job's sources emitted) every 0.5 s, until 90 % of ``events`` are read."""
    targets = bench.stack.services["flink"].scrape_targets()["flink"]  # type: ignore[attr-defined]
    marks: list[tuple[float, int]] = []
    began = time.time()
    with console.status("") as status:
        while not marks or marks[-1][1] < 0.9 * events:
            bench.check_running(job_id)
            marks.append((time.time(), records_read(targets, job_name)))
            if on_mark is not None:
                on_mark(marks[-1][1])
            status.update(f"{label}: {marks[-1][1]:,} of {events:,} events read")
            if time.time() - began > 1800:
                raise SystemExit(f"{job_name}: not through the backlog in 30 minutes")
            time.sleep(0.5)
    return marks


def timed_span(
    marks: list[tuple[float, int]], events: int, sampler: CpuSampler, label: str
) -> tuple[float, float]:
    """Pairs/s and CPU-s per M pairs between 20 % and 90 % of ``events`` read."""
    t20, n20 = next(m for m in marks if m[1] >= 0.2 * events)
    t90, n90 = next(m for m in marks if m[1] >= 0.9 * events)
    if t90 == t20:
        gap = t20 - max((t for t, n in marks if n < 0.2 * events), default=marks[0][0])
        # Seen at p2 for a stage (the whole job chained to its sink, no exchange), even with the
        # samples 0.1 s apart: the sources' count does not grow as they read.
        console.log(
            f"[yellow]{label}: the sources' record count went from under 20 % to over 90 % of the "
            f"backlog between two samples {gap:.1f} s apart: no rate to time[/]"
        )
    pairs = (n90 - n20) / 2
    rate = pairs / (t90 - t20) if t90 > t20 else math.nan
    return rate, sampler.between(t20, t90) / max(pairs, 1) * 1e6


def idle_bench(cpus: set[int] | None, pairs: int, features: int) -> tuple[Bench, Backlog]:
    """The idle stack up (Kafka, MinIO, Flink), the bench pinned to ``cpus``, a fresh backlog."""
    settings = get_stack_settings()
    stack = LocalStack(settings)
    stack.up(list(IDLE_SERVICES), report=lambda s, m: console.log(f"{s}: {m}"))
    bench = Bench(settings, stack, cpus)
    console.log(f"TaskManager pid {taskmanager_pid()}, CPUs {cpu_list(bench.cpu_set())}")
    if extra := bench.not_idle():
        console.log(f"[yellow]the stack is not idle: {', '.join(extra)} run too[/]")
    backlog = Backlog.create(settings, pairs, features, start=time.time() - 60 - pairs / BACKLOG_RATE)
    return bench, backlog


@dataclass
class StageRun:
    stage: str
    parallelism: int
    rate: float  # pairs per second
    cpu_s_per_mpairs: float
    build: str = ""  # the jar's name, with --jars


def stage_run(bench: Bench, backlog: Backlog, stage: str, cell: Cell, run: int, build: str = "") -> StageRun:
    """One submission of the job cut after ``stage`` over the whole backlog."""
    job_name = f"{backlog.prefix}-{stage.replace('_', '-')}-p{cell.parallelism}-{cell.state}-r{run}"
    if build:
        job_name += f"-{build}"
    events = 2 * (backlog.pairs + PARTITIONS)
    env = {**job_environment(backlog, job_name, cell), "BENCH_STAGE": stage}
    # A TaskManager can die as a job with Python workers is cancelled (Beam's "Reference count
    # must not be negative" on close): `up` starts the cluster again.
    bench.stack.up(list(IDLE_SERVICES), report=lambda s, m: console.log(f"{s}: {m}"))
    bench.cpu_set()
    label = f"{stage}, p{cell.parallelism}"
    with (
        CpuSampler(taskmanager_pid()) as sampler,
        bench.job(env, cell.parallelism, StageJobService) as job_id,
    ):
        marks = read_backlog(bench, job_id, job_name, events, label)
    rate, cpu = timed_span(marks, events, sampler, label)
    console.log(f"{label}{f' ({build})' if build else ''}: {rate:,.0f} pairs/s, {cpu:,.1f} CPU-s per M pairs")
    return StageRun(stage, cell.parallelism, rate, cpu, build)


def backlog_arguments(doc: str | None) -> argparse.ArgumentParser:
    """A bench's parser with the backlog's and the cells' common flags."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--million-pairs", type=float, default=1.0, help="backlog size (default 1)")
    parser.add_argument("--features", type=int, default=8, help="feature count (default 8)")
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2], help="default 1 2")
    parser.add_argument(
        "--cpus", type=lambda s: {int(c) for c in s.split(",")}, help="pin the TaskManager and baseline: 0,1"
    )
    return parser


def main() -> None:
    parser = backlog_arguments(__doc__)
    parser.add_argument("--state", choices=["rocksdb", "hashmap"], default="rocksdb")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--runs", type=int, default=3, help="runs per stage, taken in turns (default 3)")
    parser.add_argument(
        "--jars",
        type=Path,
        nargs="+",
        help="builds of closeloop-flink-functions.jar to compare, in turns (default: the stack's own)",
    )
    args = parser.parse_args()
    builds: list[tuple[str, Path | None]] = [("", None)]
    if args.jars:
        if missing := [str(j) for j in args.jars if not j.is_file()]:
            parser.error(f"--jars: no such file: {', '.join(missing)}")
        if len({j.stem for j in args.jars}) < len(args.jars):
            parser.error("--jars: the jars' names label the results; give each its own")
        builds = [(j.stem, j.resolve()) for j in args.jars]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    pairs = int(args.million_pairs * 1_000_000)

    bench, backlog = idle_bench(args.cpus, pairs, args.features)
    settings = bench.settings
    runs: list[StageRun] = []
    try:
        python = python_runs(bench, backlog, 1)[0]
        # In turns, every build and stage once per round: drift in the machine's speed spreads
        # over all of them.
        for parallelism in args.parallelism:
            for run in range(args.runs):
                for build, jar in builds:
                    use_build(bench, jar)
                    for stage in args.stages:
                        cell = Cell(parallelism, args.state, "idle")
                        runs.append(stage_run(bench, backlog, stage, cell, run, build))
    finally:
        bench.unpin()
        cleanup(settings, [backlog.prefix])
        if args.jars:
            use_build(bench, None)  # the next `up` starts Flink with the stack's own build

    table = Table(
        title=f"the feedback job stage by stage, {pairs:,} pairs, {args.features} features, "
        f"{args.state}, CPUs {' / '.join(sorted(bench.seen))}"
    )
    for column in ("run", "pairs/s", "CPU-s per M pairs", "min-max", "the stage's own", "pairs/s vs python"):
        table.add_column(column, justify="left" if column == "run" else "right")
    python_cpu = f"{python.cpu_s_per_mpairs:,.1f}"
    table.add_row("python consumer (all of it, no lake)", f"{python.rate:,.0f}", python_cpu, "", "", "1.00")
    medians: dict[tuple[int, str, str], tuple[float, float]] = {}
    for parallelism in args.parallelism:
        for build, _ in builds:
            before = 0.0
            for stage in args.stages:
                these = [
                    r for r in runs if r.parallelism == parallelism and r.stage == stage and r.build == build
                ]
                cpus = [r.cpu_s_per_mpairs for r in these]
                rate, cpu = median_finite([r.rate for r in these]), median_finite(cpus)
                medians[(parallelism, build, stage)] = (rate, cpu)
                table.add_row(
                    f"flink p{parallelism}{f' ({build})' if build else ''} up to {stage}",
                    f"{rate:,.0f}",
                    f"{cpu:,.1f}",
                    f"{min(cpus):,.1f}-{max(cpus):,.1f}",
                    f"{cpu - before:+,.1f}",
                    f"{rate / python.rate:.2f}",
                )
                before = cpu
    console.print(table)
    first, build = args.parallelism[0], builds[0][0]
    kafka = medians.get((first, build, "kafka"), (math.nan, math.nan))[1]
    job = medians.get((first, build, "job"), (math.nan, math.nan))[1]
    print(
        f"kafka_cpu_s_per_mpairs={kafka:.1f} job_cpu_s_per_mpairs={job:.1f} "
        f"python_cpu_s_per_mpairs={python.cpu_s_per_mpairs:.1f}"
    )


if __name__ == "__main__":
    main()
