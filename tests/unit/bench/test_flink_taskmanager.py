"""bench/flink_taskmanager.py: what a TaskManager's Prometheus reporter says a job's sources read."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "flink_taskmanager", Path(__file__).parents[3] / "bench" / "flink_taskmanager.py"
)
assert _spec is not None and _spec.loader is not None
flink_taskmanager = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("flink_taskmanager", flink_taskmanager)
_spec.loader.exec_module(flink_taskmanager)

METRIC = "flink_taskmanager_job_task_operator_numRecordsOut"


def _line(job: str, operator: str, subtask: int, value: float) -> str:
    return (
        f'{METRIC}{{job_name="{job}",operator_name="{operator}",subtask_index="{subtask}",'
        f'host="127_0_0_1",}} {value}'
    )


# As Flink's reporter writes it: counters as gauges, label values with [^a-zA-Z0-9:_] as "_".
PAGE = "\n".join(
    [
        f"# HELP {METRIC} numRecordsOut (scope: taskmanager_job_task_operator)",
        f"# TYPE {METRIC} gauge",
        _line("bench_3f3dad_kafka_p2_rocksdb_r0", "Source:_prediction_source_1_", 0, 1500.0),
        _line("bench_3f3dad_kafka_p2_rocksdb_r0", "Source:_prediction_source_1_", 1, 1400.0),
        _line("bench_3f3dad_kafka_p2_rocksdb_r0", "Source:_feedback_source_2_", 0, 1200.0),
        # Not a source: what the Calc after it emitted is not read again.
        _line("bench_3f3dad_kafka_p2_rocksdb_r0", "Calc_3_", 0, 2700.0),
        # Another job on the same TaskManager.
        _line("closeloop_feedback", "Source:_prediction_source_1_", 0, 99.0),
        "# TYPE flink_taskmanager_Status_JVM_CPU_Load gauge",
        'flink_taskmanager_Status_JVM_CPU_Load{host="127_0_0_1",} 0.25',
    ]
)


def test_sums_the_jobs_sources_over_subtasks() -> None:
    assert flink_taskmanager.source_records(PAGE, "bench-3f3dad-kafka-p2-rocksdb-r0") == 4100


def test_another_job_or_none_counts_nothing() -> None:
    assert flink_taskmanager.source_records(PAGE, "closeloop-feedback") == 99
    assert flink_taskmanager.source_records(PAGE, "bench-000000-kafka-p1-rocksdb-r0") == 0
    assert flink_taskmanager.source_records("", "closeloop-feedback") == 0
