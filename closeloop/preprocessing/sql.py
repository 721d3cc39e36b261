"""The preprocessing job's Flink SQL: each raw event through ``preprocess_raw``, to a request or a letter.

    raw_source (closeloop.raw, bytes as sent)
    → preprocess_raw (Python, closeloop.preprocessing.udf) → requests_sink | dlq_sink

The function runs once per event: both inserts read the one ``preprocessed``
view, which the planner computes once for the two sinks.
"""

from __future__ import annotations

from closeloop.preprocessing.routing import DEAD_LETTER, REQUEST
from closeloop.preprocessing.settings import PreprocessJobSettings
from closeloop.streaming.sql import JobSql
from closeloop.streaming.stages.connectors import kafka_sink
from closeloop.streaming.stages.literals import quote

__all__ = ["build_sql"]


def raw_source(s: PreprocessJobSettings) -> str:
    """The raw topic's events as bytes, with their Kafka coordinates for the dead letters."""
    return f"""
CREATE TABLE raw_source (
    message_key STRING,
    body BYTES,
    `partition` INT METADATA VIRTUAL,
    `offset` BIGINT METADATA VIRTUAL
) WITH (
    'connector' = 'kafka',
    'topic' = {quote(s.topics.raw)},
    'properties.bootstrap.servers' = {quote(s.kafka_bootstrap)},
    'properties.group.id' = {quote(s.preprocess_job_name)},
    'properties.isolation.level' = 'read_committed',
    'scan.startup.mode' = 'group-offsets',
    'properties.auto.offset.reset' = 'earliest',
    -- A recording of a few seconds is a few hundred kilobytes: fetch few at a time.
    'properties.max.partition.fetch.bytes' = '4194304',
    'key.format' = 'raw',
    'key.fields' = 'message_key',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY'
)"""


def build_sql(s: PreprocessJobSettings) -> JobSql:
    """The job's tables and view, then its two inserts (one statement set); ``preprocess_raw`` is
    registered by the job before these run."""
    topics = s.topics
    steps = [
        raw_source(s),
        kafka_sink("requests_sink", topics.requests, s),
        kafka_sink("dlq_sink", topics.dlq, s),
        """
CREATE TEMPORARY VIEW preprocessed AS
SELECT r.kind AS kind, r.k AS k, r.v AS v
FROM (SELECT preprocess_raw(message_key, body, `partition`, `offset`) AS r FROM raw_source)""",
    ]
    inserts = [
        f"INSERT INTO requests_sink SELECT k, v FROM preprocessed WHERE kind = {quote(REQUEST)}",
        f"INSERT INTO dlq_sink SELECT k, v FROM preprocessed WHERE kind = {quote(DEAD_LETTER)}",
    ]
    return JobSql(steps=steps, inserts=inserts)
