"""The feedback job cut after one of its stages: what bench/flink_stages.py times, stage by stage.

    BENCH_STAGE=checks flink run --detached -py bench/stages_job.py   # CLOSELOOP_* as for the job

The statements and settings are the job's own (flink/feedback_job.py); only
the end differs. Each stage includes the ones before it:

    kafka      both topics' records, raw, by SQL Kafka sources: no parse, no event time
    front      the job's front: each event parsed and checked once, event time and
               watermarks, the keyed step per prediction id with its state (table `paired`)
    facts      one row of facts per prediction and feedback, drift bins (view `facts`)
    aggregates the tumbling and sliding windows' sums, in SQL
    windows    the metrics: those sums through metrics_event (Python), to Kafka
    job        the job's three inserts: metrics, dead letters, the lake (the alert rules,
               which read the metrics topic back, are left out)

Up to facts the rows go to a blackhole sink, which does nothing with them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyflink.table import StatementSet, StreamTableEnvironment

    from closeloop.streaming.settings import FeedbackJobSettings

STAGES = ("kafka", "front", "facts", "aggregates", "windows", "job")

_RAW = """
CREATE TEMPORARY TABLE raw_{name} WITH ('scan.watermark.idle-timeout' = '0 s')
LIKE {name} (EXCLUDING WATERMARKS EXCLUDING GENERATED)"""

#: The raw sources' tables: each topic, with the job's consumer group.
_SOURCES = {"prediction_source": "predictions", "feedback_source": "feedback"}

#: What each blackhole stage selects.
_QUERIES = {
    "kafka": (
        "SELECT message_key, `value`, `partition`, `offset` FROM raw_prediction_source "
        "UNION ALL SELECT message_key, `value`, `partition`, `offset` FROM raw_feedback_source"
    ),
    "front": "SELECT * FROM paired",
    "facts": "SELECT * FROM facts",
}


def statements_for(
    stage: str, t_env: StreamTableEnvironment, job: StatementSet, settings: FeedbackJobSettings
) -> StatementSet:
    """The statement set that runs the job up to ``stage`` (``job``: the job's own inserts)."""
    from pyflink.table import TableDescriptor

    from closeloop.streaming.stages.connectors import kafka_source
    from closeloop.streaming.stages.windows import metrics_insert, window_aggregates

    if stage == "job":
        return job
    cut = t_env.create_statement_set()
    if stage == "windows":
        cut.add_insert_sql(metrics_insert(settings))
        return cut
    if stage == "aggregates":
        query = " UNION ALL ".join(f"SELECT * FROM ({q})" for q in window_aggregates(settings).values())
    else:
        if stage == "kafka":
            for name, side in _SOURCES.items():
                topic = getattr(settings.topics, side)
                t_env.execute_sql(kafka_source(name, topic, settings, f"{settings.job_name}-{side}"))
                t_env.execute_sql(_RAW.format(name=name))
        query = _QUERIES[stage]
    cut.add_insert(TableDescriptor.for_connector("blackhole").build(), t_env.sql_query(query))
    return cut


def main() -> None:
    # Imported here: bench/flink_stages.py reads STAGES in a venv without PyFlink.
    from closeloop.streaming.settings import load_job_settings

    # flink/feedback_job.py is a script, not a package module.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flink"))
    from feedback_job import add_statements, create_environments

    stage = os.environ.get("BENCH_STAGE", "job")
    if stage not in STAGES:
        raise SystemExit(f"BENCH_STAGE={stage!r}: one of {', '.join(STAGES)}")
    settings = load_job_settings()
    _, t_env = create_environments(settings)
    statements_for(stage, t_env, add_statements(t_env, settings), settings).execute()


if __name__ == "__main__":
    main()
