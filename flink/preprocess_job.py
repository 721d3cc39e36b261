"""The preprocessing job: raw audio and images from Kafka to requests the models take, on Flink.

    flink run --detached -py flink/preprocess_job.py          # settings from CLOSELOOP_*
    python flink/preprocess_job.py --print-sql                # show the statements, submit nothing

Reads closeloop.raw; normalizes each event's file to what its use case's model
reads (flink/raw_inputs.json, generated from the use cases) with the function
the gateway's models and the batch DAG share (closeloop.media.preprocess);
writes one closeloop.request.v1 per event to closeloop.requests, for stream
inference to answer, and sends what cannot be a request to closeloop.dlq with
the reason. Offsets commit with each checkpoint: at least once, and a request
id is its raw event's id, so a replayed event gives the same request.
"""

from __future__ import annotations

import argparse

from pyflink.table import EnvironmentSettings, TableEnvironment

from closeloop.kafka.admin import partition_count
from closeloop.media.normalize import load_raw_inputs
from closeloop.preprocessing.settings import PreprocessJobSettings
from closeloop.preprocessing.sql import build_sql
from closeloop.preprocessing.udf import PreprocessRaw, preprocess_raw


def configure(t_env: TableEnvironment, settings: PreprocessJobSettings) -> None:
    config = t_env.get_config()
    parallelism = settings.preprocess_parallelism or partition_count(
        settings.kafka_bootstrap, settings.topics.raw
    )
    config.set("pipeline.name", settings.preprocess_job_name)
    config.set("parallelism.default", str(parallelism))
    config.set("table.local-time-zone", "UTC")
    config.set("execution.checkpointing.interval", f"{settings.preprocess_checkpoint_interval_s} s")
    # Its only state is the sources' offsets.
    config.set("state.backend.type", "hashmap")
    config.set("table.exec.uid.generation", "ALWAYS")
    # One preprocessing per event, for both sinks.
    config.set("table.optimizer.reuse-optimize-block-with-digest-enabled", "true")
    config.set("pipeline.object-reuse", "true")
    config.set("python.fn-execution.memory.managed", "false")
    # Events wait for their bundle to fill or for this long: the latency the job adds.
    config.set("python.fn-execution.bundle.time", str(settings.preprocess_bundle_ms))
    config.set("python.fn-execution.bundle.size", "100")
    # In the TaskManager's JVM (thread) rather than a Python worker fed over gRPC (process):
    # handing a 100 KB recording to a worker and its request back cost ~12 ms of CPU, three
    # times the preprocessing itself (bench/ingest.py).
    config.set("python.execution-mode", settings.preprocess_python_mode)


def function(settings: PreprocessJobSettings) -> PreprocessRaw:
    return PreprocessRaw(
        load_raw_inputs(settings.raw_inputs),
        source_topic=settings.topics.raw,
        s3_endpoint=settings.s3_endpoint,
        s3_access_key=settings.s3_access_key,
        s3_secret_key=settings.s3_secret_key.get_secret_value(),
        bucket=settings.lake_bucket,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--print-sql", action="store_true", help="print the SQL and exit")
    args = parser.parse_args()

    settings = PreprocessJobSettings.load()
    sql = build_sql(settings)
    if args.print_sql:
        print(sql.render(), end="")
        return
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    configure(t_env, settings)
    t_env.create_temporary_function("preprocess_raw", preprocess_raw(function(settings)))
    for step in sql.steps:
        t_env.execute_sql(step)
    statements = t_env.create_statement_set()
    for insert in sql.inserts:
        statements.add_insert_sql(insert)
    statements.execute()


if __name__ == "__main__":
    main()
