"""The job's tables: Kafka sources with event time, Kafka sinks, the Parquet lake."""

from __future__ import annotations

from closeloop.config import Settings
from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.stages.literals import interval, quote

__all__ = ["kafka_sink", "kafka_source", "lake_sink"]


def kafka_source(name: str, topic: str, s: FeedbackJobSettings, group: str) -> str:
    """The raw events of ``topic`` with their Kafka coordinates and event time."""
    idle = f"\n    'scan.watermark.idle-timeout' = '{s.idle_timeout_s} s'," if s.idle_timeout_s else ""
    startup = (
        "'scan.startup.mode' = 'group-offsets',\n    'properties.auto.offset.reset' = 'earliest',"
        if s.start_from_ms is None
        else f"'scan.startup.mode' = 'timestamp',\n    'scan.startup.timestamp-millis' = '{s.start_from_ms}',"
    )
    return f"""
CREATE TABLE {name} (
    message_key STRING,
    -- The value's bytes, read as UTF-8 where they are used (utf8): the raw
    -- format's STRING decodes each value, and each reader of its bytes
    -- encoded it again.
    `value` BYTES,
    `partition` INT METADATA VIRTUAL,
    `offset` BIGINT METADATA VIRTUAL,
    kafka_ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
    body AS utf8(`value`),
    -- Event time is the event's own `ts`, or Kafka's timestamp where it has none
    -- (the contract's default: now). A broken or far-future `ts`, or a value that is
    -- not a JSON object, gets the epoch: such a row goes to the dead-letter topic and
    -- must not move the watermark. `ts` is read off the front where closeloop's
    -- serializer puts it ({{"ts":"2026-11-22T10:00:00.123Z",…), without parsing the
    -- event (flink/functions: EventTime).
    event_ts AS event_time(`value`, kafka_ts, CAST({s.max_clock_skew_s * 1000} AS BIGINT)),
    WATERMARK FOR event_ts AS event_ts - {interval(s.out_of_orderness_s)}
) WITH (
    'connector' = 'kafka',
    'topic' = {quote(topic)},
    'properties.bootstrap.servers' = {quote(s.kafka_bootstrap)},
    'properties.group.id' = {quote(group)},
    'properties.isolation.level' = 'read_committed',
    {startup}{idle}
    'key.format' = 'raw',
    'key.fields' = 'message_key',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY'
)"""


def kafka_sink(name: str, topic: str, s: Settings) -> str:
    """Events as ``k`` (key) and ``v`` (the event's JSON), at least once."""
    return f"""
CREATE TABLE {name} (
    k STRING,
    v STRING
) WITH (
    'connector' = 'kafka',
    'topic' = {quote(topic)},
    'properties.bootstrap.servers' = {quote(s.kafka_bootstrap)},
    'key.format' = 'raw',
    'key.fields' = 'k',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY',
    'sink.delivery-guarantee' = 'at-least-once',
    -- Small batches, small buffers: the local TaskManager's heap is small.
    'properties.buffer.memory' = '8388608'
)"""


def lake_sink(s: FeedbackJobSettings) -> str:
    """Labeled examples as Parquet in the lake, by model and day; files commit with checkpoints."""
    return f"""
CREATE TABLE lake_sink (
    prediction_id STRING,
    model_version STRING,
    task STRING,
    inputs STRING,
    output STRING,
    ground_truth STRING,
    source STRING,
    prediction_ts TIMESTAMP(3),
    feedback_ts TIMESTAMP(3),
    model_name STRING,
    dt STRING
) PARTITIONED BY (model_name, dt) WITH (
    'connector' = 'filesystem',
    'path' = {quote(f"s3://{s.lake_bucket}/{s.lake_prefix}")},
    'format' = 'parquet',
    -- Plain values, no dictionaries: most columns differ in every row (ids, inputs,
    -- times), so a dictionary only fills up and is dropped, and the lookups into it
    -- (the times hash poorly) cost two fifths of the lake writer's time. Parquet's own
    -- per-column switch is not read by Flink's writer.
    'parquet.enable.dictionary' = 'false',
    'sink.partition-commit.policy.kind' = 'success-file'
)"""
