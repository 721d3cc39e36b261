"""A LocalExecutor whose task processes start with the retrain tasks' libraries imported.

LocalExecutor forks its workers from the scheduler, and each worker forks a
process per task, which then imports what the task needs: mlflow, scikit-learn,
pandas, pyarrow and skops cost 2-3 s of each retrain task's time on 2 cores,
for three tasks in a row. Imported once in the scheduler before the workers
fork, they are there in every task process, shared copy-on-write.

Only third-party libraries: closeloop's own modules are imported by each task,
so a changed DAG or training module takes effect without restarting the
scheduler. Set in ``[core] executor`` by its path, as Airflow allows:
``closeloop_airflow.executors.preloading_local.PreloadingLocalExecutor``.
"""

from __future__ import annotations

import importlib
import os
import time
import warnings

from airflow.executors.local_executor import LocalExecutor

#: What build_dataset, train and gate import; a comma-separated CLOSELOOP_AIRFLOW_PRELOAD replaces it
#: (empty: preload nothing).
DEFAULT_MODULES = (
    "pandas",
    "pyarrow.dataset",
    "pyarrow.parquet",
    "sklearn.linear_model",
    "sklearn.metrics",
    # Before mlflow, as training.import_skops explains.
    "skops.io",
    "mlflow",
    "mlflow.pyfunc",
    "mlflow.sklearn",
    "minio",
)


def modules_to_preload(environ: os._Environ[str] | dict[str, str] = os.environ) -> list[str]:
    configured = environ.get("CLOSELOOP_AIRFLOW_PRELOAD")
    if configured is None:
        return list(DEFAULT_MODULES)
    return [name.strip() for name in configured.split(",") if name.strip()]


def preload(names: list[str]) -> dict[str, str]:
    """Import each module; what could not be imported, and why (a task would then import it itself)."""
    failed = {}
    # Import-time warnings only (skops warns once per Airflow module it inspects): not the scheduler's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            try:
                importlib.import_module(name)
            except Exception as exc:  # a missing optional library must not stop the scheduler
                failed[name] = f"{type(exc).__name__}: {exc}"
    return failed


class PreloadingLocalExecutor(LocalExecutor):
    """LocalExecutor, with :func:`modules_to_preload` imported before its workers fork."""

    def start(self) -> None:
        if self.is_mp_using_fork:  # spawned workers start from scratch: nothing to share
            names = modules_to_preload()
            started = time.monotonic()
            failed = preload(names)
            self.log.info(
                "preloaded %d modules for the task processes in %.1f s",
                len(names) - len(failed),
                time.monotonic() - started,
            )
            for name, why in failed.items():
                self.log.warning("cannot preload %s: %s", name, why)
        super().start()
