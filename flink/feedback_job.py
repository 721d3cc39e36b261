"""The streaming feedback job: predictions ⋈ feedback into live metrics, drift and alerts, on Flink.

    flink run --detached -py flink/feedback_job.py            # settings from CLOSELOOP_*
    python flink/feedback_job.py --print-sql                  # show the statements, submit nothing

Reads closeloop.predictions and closeloop.feedback in its front, a DataStream
of JVM functions (closeloop.streaming.stages.front); sends invalid events and
unmatched feedback to closeloop.dlq; writes tumbling and sliding window
metrics (quality, latency, drift) per model version to closeloop.metrics;
judges them against the alert rules into closeloop.alerts. Every address,
topic, window and delay comes from closeloop's settings
(closeloop.streaming.settings).
"""

from __future__ import annotations

import argparse

from pyflink.common import Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway
from pyflink.table import DataTypes, EnvironmentSettings, Schema, StatementSet, StreamTableEnvironment

from closeloop.monitoring.alerts import load_rules
from closeloop.streaming.alerting import EvaluateAlertRules
from closeloop.streaming.checkpoints import job_checkpoints_dir
from closeloop.streaming.parallelism import resolve_parallelism
from closeloop.streaming.settings import FeedbackJobSettings, load_job_settings
from closeloop.streaming.sql import build_sql
from closeloop.streaming.stages.front import PAIRED, front_settings_json
from closeloop.streaming.udfs import metrics_event

# How long a Python operator buffers rows before it hands them to its worker.
PYTHON_BUNDLE_MS = 50


def configure(t_env: StreamTableEnvironment, settings: FeedbackJobSettings) -> None:
    config = t_env.get_config()
    config.set("pipeline.name", settings.job_name)
    config.set("parallelism.default", str(resolve_parallelism(settings)))
    config.set("table.local-time-zone", "UTC")
    config.set("execution.checkpointing.interval", f"{settings.checkpoint_interval_s} s")
    config.set("execution.checkpointing.mode", "EXACTLY_ONCE")
    config.set("state.backend.type", settings.state_backend)
    # Timers on the heap even with RocksDB state: the joins and windows set one
    # per key, and a RocksDB timer costs an iterator each time it is read.
    config.set("state.backend.rocksdb.timer-service.factory", "HEAP")
    config.set("execution.checkpointing.incremental", "true")
    config.set("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    if settings.checkpoints_dir:
        # One folder per job name: a restart finds the latest checkpoint of its own job.
        config.set(
            "execution.checkpointing.dir", job_checkpoints_dir(settings.checkpoints_dir, settings.job_name)
        )
    # Every operator gets a uid from its place in the plan, not a hash of the job
    # graph: the graph's chaining changes with the parallelism (the lake's
    # committer always runs alone), and a checkpoint must restore at another one.
    config.set("table.exec.uid.generation", "ALWAYS")
    # The keyed step's table feeds several sinks and
    # windows: without this, each use plans, and runs, its own copy.
    config.set("table.optimizer.reuse-optimize-block-with-digest-enabled", "true")
    # Rows pass between chained operators without a copy: the JVM functions
    # copy what they keep.
    config.set("pipeline.object-reuse", "true")
    # pair_join reads its state by point lookups only: bloom filters skip the
    # files that cannot hold a key. Their blocks are whole, not partitioned
    # (state.backend.rocksdb.memory.partitioned-index-filters): the second index
    # level cost 7 % more CPU per pair at 1M pairs. A state far larger than the
    # block cache may want them; that is the cluster's config.yaml to say.
    config.set("state.backend.rocksdb.use-bloom-filter", "true")
    # A lookup that misses the block cache decompressed a whole block: a fifth of
    # the TaskManager's time. The files stay small without it: ids, times, labels.
    config.set("state.backend.rocksdb.compression.per.level", "NO_COMPRESSION")
    # The Python workers run once per window and need no managed memory: it
    # all goes to RocksDB.
    config.set("python.fn-execution.memory.managed", "false")
    # They see a few rows per window, and a window's metrics and alerts wait in
    # a bundle until it finishes: by default up to 1 s at each of the two.
    config.set("python.fn-execution.bundle.time", str(PYTHON_BUNDLE_MS))
    # Windows aggregate each slice locally and ship partial sums.
    config.set("table.optimizer.agg-phase-strategy", "TWO_PHASE")


def create_environments(
    settings: FeedbackJobSettings,
) -> tuple[StreamExecutionEnvironment, StreamTableEnvironment]:
    """The job's environments, configured, with its front in them."""
    env = StreamExecutionEnvironment.get_execution_environment()
    t_env = StreamTableEnvironment.create(env, EnvironmentSettings.in_streaming_mode())
    configure(t_env, settings)
    # The front's operators take the environment's parallelism, the SQL's the table config's.
    env.set_parallelism(resolve_parallelism(settings))
    add_front(env, t_env, settings)
    return env, t_env


def add_front(
    env: StreamExecutionEnvironment, t_env: StreamTableEnvironment, settings: FeedbackJobSettings
) -> None:
    """The front (io.closeloop.flink.FeedbackFront) as the tables ``paired`` and ``invalid_events``."""
    front = get_gateway().jvm.io.closeloop.flink.FeedbackFront.build(
        env._j_stream_execution_environment, front_settings_json(settings)
    )
    # The keyed step's rows keep their event time, and the front's watermarks, as `rowtime`.
    on_time = (
        Schema.new_builder()
        .column_by_metadata("rowtime", DataTypes.TIMESTAMP_LTZ(3))
        .watermark("rowtime", "SOURCE_WATERMARK()")
        .build()
    )
    t_env.create_temporary_view(PAIRED, t_env.from_data_stream(DataStream(front.paired()), on_time))
    t_env.create_temporary_view("invalid_events", t_env.from_data_stream(DataStream(front.invalid())))


def add_statements(t_env: StreamTableEnvironment, settings: FeedbackJobSettings) -> StatementSet:
    """Run the job's DDL and views (its JVM functions are declared by its own SQL); return its inserts.

    The tables of the front (``add_front``) must be there first.
    """
    sql = build_sql(settings)
    t_env.create_temporary_function("metrics_event", metrics_event(settings, settings.profile_refresh_s))
    for step in sql.steps:
        t_env.execute_sql(step)
    statements = t_env.create_statement_set()
    for insert in sql.inserts:
        statements.add_insert_sql(insert)
    return statements


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--print-sql", action="store_true", help="print the SQL and exit")
    args = parser.parse_args()

    settings = load_job_settings()
    if args.print_sql:
        print(build_sql(settings).render(), end="")
        return
    rules = load_rules(settings.alert_rules)

    env, t_env = create_environments(settings)
    statements = add_statements(t_env, settings)

    # Alerts need state across windows (streaks, cooldowns): a keyed process
    # function on the DataStream side, fed by the metrics topic.
    metrics = t_env.to_data_stream(t_env.sql_query("SELECT message_key, body FROM metrics_source"))
    alerts = (
        metrics.key_by(lambda row: row[0], key_type=Types.STRING())
        .process(
            EvaluateAlertRules(rules, settings.window_s),
            output_type=Types.ROW([Types.STRING(), Types.STRING()]),
        )
        .name("evaluate-alert-rules")
        .uid("evaluate-alert-rules")
    )
    schema = Schema.new_builder().column("f0", DataTypes.STRING()).column("f1", DataTypes.STRING()).build()
    statements.add_insert("alerts_sink", t_env.from_data_stream(alerts, schema).alias("k", "v"))
    statements.attach_as_datastream()
    env.execute_async(settings.job_name)


if __name__ == "__main__":
    main()
