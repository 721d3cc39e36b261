"""How long a retrain and a drift report take on this machine.

    .local/venv/bin/python bench/retrain.py              # the stack must be up (closeloop up)
    .local/venv/bin/python bench/retrain.py --runs 3

Retrain: triggers `retrain_digits` through Airflow's REST API (a manual run,
`force` off, so the gate decides as it would at night) and reports its wall
time, from the trigger to the run's end, and each task's own duration, as
Airflow recorded them. The gap between the sum of the tasks and the wall time
is Airflow's scheduling (queueing, starting a task process) between tasks.

Drift report: `build_drift_report` (Evidently's drift and classification
presets) for the digits reference set against 10k and 100k current rows,
drifted by stroke thickness, in this process: as the DAG runs it (the
drifted-columns count above CLOSELOOP_DRIFT_REPORT_DETAILED_COLUMNS features),
then with the full DataDriftPreset, a plot per column. The last line has the
former.

The last line is `retrain_s=… drift_10k_s=… drift_100k_s=…`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from closeloop.config import get_settings
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from closeloop.stack.settings import get_stack_settings
from training.evidently_report import build_drift_report
from training.usecases import TARGET, get_use_case
from training.usecases.digits.drift import drift_frame

console = Console()
DAG_ID = "retrain_digits"


def retrain(runs: int) -> tuple[float, list[dict[str, float]]]:
    airflow = LocalStack(get_stack_settings()).services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    api = airflow.api()
    walls, breakdowns = [], []
    for n in range(runs):
        started = time.monotonic()
        run_id = api.trigger(DAG_ID, conf={}, note="bench/retrain.py")
        console.print(f"run {n + 1}/{runs}: {api.ui_url(DAG_ID, run_id)}")
        run = api.wait(DAG_ID, run_id, timeout_s=900)
        wall = time.monotonic() - started
        if run["state"] != "success":
            raise SystemExit(f"{DAG_ID} run {run_id} ended {run['state']}: see {api.ui_url(DAG_ID, run_id)}")
        tasks = api.task_instances(DAG_ID, run_id)
        breakdowns.append({task_id: float(t["duration"] or 0.0) for task_id, t in tasks.items()})
        walls.append(wall)
    return statistics.median(walls), breakdowns


def drift_report_seconds(rows: int, detailed_columns: int) -> float:
    use_case = get_use_case("digits")
    base = use_case.base_data()
    reference = base.train.assign(prediction=base.train[TARGET])
    rng = np.random.default_rng(0)
    pool = pd.concat([base.train, base.test], ignore_index=True)
    current = pool.iloc[rng.integers(0, len(pool), rows)].reset_index(drop=True)
    current = drift_frame(current, "thickness", 1.0, seed=0).assign(prediction=current[TARGET])
    started = time.perf_counter()
    report = build_drift_report(
        reference,
        current,
        features=use_case.features(),
        task=use_case.task,
        max_detailed_columns=detailed_columns,
    )
    took = time.perf_counter() - started
    mode = "full DataDriftPreset" if detailed_columns >= 64 else "drifted-columns count"
    console.print(
        f"drift report {rows:>7,} rows, {mode}: {took:6.2f} s, drift share {report.drift_share:.2f}"
    )
    return took


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1, help="Retrain runs; the median wall time is reported.")
    parser.add_argument("--skip-retrain", action="store_true", help="Only time the drift reports.")
    args = parser.parse_args()

    wall = float("nan")
    if not args.skip_retrain:
        wall, breakdowns = retrain(args.runs)
        table = Table(title=f"{DAG_ID}: task durations (s), {args.runs} run(s)")
        table.add_column("task")
        for n in range(len(breakdowns)):
            table.add_column(f"run {n + 1}", justify="right")
        for task_id in breakdowns[0]:
            table.add_row(task_id, *(f"{b.get(task_id, 0.0):.1f}" for b in breakdowns))
        table.add_row("sum of tasks", *(f"{sum(b.values()):.1f}" for b in breakdowns))
        console.print(table)
        console.print(f"wall time, trigger to end (median): {wall:.1f} s")
    # As the DAG runs it (CLOSELOOP_DRIFT_REPORT_DETAILED_COLUMNS), then with every column's plot.
    detailed = get_settings().drift_report_detailed_columns
    drift_10k = drift_report_seconds(10_000, detailed)
    drift_100k = drift_report_seconds(100_000, detailed)
    if detailed < 64:
        drift_report_seconds(10_000, 64)
        drift_report_seconds(100_000, 64)
    print(f"retrain_s={wall:.1f} drift_10k_s={drift_10k:.2f} drift_100k_s={drift_100k:.2f}")


if __name__ == "__main__":
    main()
