-- The feedback job's SQL with the default settings, as
-- `python flink/feedback_job.py --print-sql` prints it: `make flink/feedback_job.sql`.
--
-- It reads the tables `paired` and `invalid_events`, which the job's front makes
-- (io.closeloop.flink.FeedbackFront, closeloop/streaming/stages/front.py) with these settings:
--
-- {
--  "bootstrap": "127.0.0.1:9092",
--  "label_delay_ms": 86400000,
--  "state_ttl_ms": 90000000,
--  "max_clock_skew_ms": 300000,
--  "out_of_orderness_ms": 5000,
--  "idle_timeout_ms": 30000,
--  "start_from_ms": null,
--  "future_problem": "ts\tmore than 300 s after the time Kafka received the event",
--  "late_problem": "ts\tlate: behind the stream's watermark (out-of-orderness allowed: 5 s)",
--  "predictions": {
--   "topic": "closeloop.predictions",
--   "group": "closeloop-feedback-predictions",
--   "members": [
--    "schema",
--    "prediction_id",
--    "model_name",
--    "model_version",
--    "task",
--    "inputs",
--    "features",
--    "error",
--    "output",
--    "latency_ms"
--   ],
--   "rules": [
--    {
--     "kind": "not_json_object",
--     "field": "(event)",
--     "reason": "not a JSON object"
--    },
--    {
--     "kind": "absent",
--     "field": "schema",
--     "reason": "missing; every event names its type",
--     "member": "schema"
--    },
--    {
--     "kind": "not_equal",
--     "field": "schema",
--     "reason": "expected 'closeloop.prediction.v1'",
--     "member": "schema",
--     "arg": "\"closeloop.prediction.v1\""
--    },
--    {
--     "kind": "absent",
--     "field": "prediction_id",
--     "reason": "Field required",
--     "member": "prediction_id"
--    },
--    {
--     "kind": "not_string",
--     "field": "prediction_id",
--     "reason": "Input should be a valid string",
--     "member": "prediction_id"
--    },
--    {
--     "kind": "too_short",
--     "field": "prediction_id",
--     "reason": "String should have at least 1 character",
--     "member": "prediction_id",
--     "arg": 1
--    },
--    {
--     "kind": "too_long",
--     "field": "prediction_id",
--     "reason": "String should have at most 128 characters",
--     "member": "prediction_id",
--     "arg": 128
--    },
--    {
--     "kind": "no_match",
--     "field": "prediction_id",
--     "reason": "String should match pattern '^[\\w.:@/-]+$'",
--     "member": "prediction_id",
--     "arg": "^[\\w.:@/-]+$"
--    },
--    {
--     "kind": "absent",
--     "field": "model_name",
--     "reason": "Field required",
--     "member": "model_name"
--    },
--    {
--     "kind": "not_string",
--     "field": "model_name",
--     "reason": "Input should be a valid string",
--     "member": "model_name"
--    },
--    {
--     "kind": "too_short",
--     "field": "model_name",
--     "reason": "String should have at least 1 character",
--     "member": "model_name",
--     "arg": 1
--    },
--    {
--     "kind": "too_long",
--     "field": "model_name",
--     "reason": "String should have at most 256 characters",
--     "member": "model_name",
--     "arg": 256
--    },
--    {
--     "kind": "no_match",
--     "field": "model_name",
--     "reason": "String should match pattern '^[\\w.-]+$'",
--     "member": "model_name",
--     "arg": "^[\\w.-]+$"
--    },
--    {
--     "kind": "absent",
--     "field": "model_version",
--     "reason": "Field required",
--     "member": "model_version"
--    },
--    {
--     "kind": "not_string",
--     "field": "model_version",
--     "reason": "Input should be a valid string",
--     "member": "model_version"
--    },
--    {
--     "kind": "too_short",
--     "field": "model_version",
--     "reason": "String should have at least 1 character",
--     "member": "model_version",
--     "arg": 1
--    },
--    {
--     "kind": "too_long",
--     "field": "model_version",
--     "reason": "String should have at most 64 characters",
--     "member": "model_version",
--     "arg": 64
--    },
--    {
--     "kind": "absent",
--     "field": "task",
--     "reason": "Field required",
--     "member": "task"
--    },
--    {
--     "kind": "not_string",
--     "field": "task",
--     "reason": "Input should be a valid string",
--     "member": "task"
--    },
--    {
--     "kind": "absent",
--     "field": "inputs",
--     "reason": "Field required",
--     "member": "inputs"
--    },
--    {
--     "kind": "not_dict",
--     "field": "inputs",
--     "reason": "Input should be a valid dictionary",
--     "member": "inputs"
--    },
--    {
--     "kind": "not_dict",
--     "field": "features",
--     "reason": "Input should be a valid dictionary",
--     "member": "features"
--    },
--    {
--     "kind": "not_number_map",
--     "field": "features",
--     "reason": "Input should be a valid number",
--     "member": "features"
--    },
--    {
--     "kind": "not_string",
--     "field": "error",
--     "reason": "Input should be a valid string",
--     "member": "error"
--    },
--    {
--     "kind": "absent",
--     "field": "latency_ms",
--     "reason": "Field required",
--     "member": "latency_ms"
--    },
--    {
--     "kind": "not_number_at_least",
--     "field": "latency_ms",
--     "reason": "must be a number, it >= 0",
--     "member": "latency_ms",
--     "arg": 0
--    },
--    {
--     "kind": "not_one_of",
--     "field": "task",
--     "reason": "unknown task; known tasks: classification, detection, ocr, regression, speech_to_text",
--     "member": "task",
--     "arg": [
--      "\"classification\"",
--      "\"detection\"",
--      "\"ocr\"",
--      "\"regression\"",
--      "\"speech_to_text\""
--     ]
--    },
--    {
--     "kind": "bad_ts",
--     "field": "ts",
--     "reason": "must be an ISO-8601 UTC time like 2026-11-22T10:00:00.123Z"
--    },
--    {
--     "kind": "neither",
--     "field": "output",
--     "reason": "must not be null unless error is set",
--     "member": "error",
--     "other": "output"
--    },
--    {
--     "kind": "both",
--     "field": "output",
--     "reason": "must be null when error is set",
--     "member": "error",
--     "other": "output"
--    }
--   ]
--  },
--  "feedback": {
--   "topic": "closeloop.feedback",
--   "group": "closeloop-feedback-feedback",
--   "members": [
--    "schema",
--    "feedback_id",
--    "prediction_id",
--    "model_name",
--    "task",
--    "ground_truth",
--    "source"
--   ],
--   "rules": [
--    {
--     "kind": "not_json_object",
--     "field": "(event)",
--     "reason": "not a JSON object"
--    },
--    {
--     "kind": "absent",
--     "field": "schema",
--     "reason": "missing; every event names its type",
--     "member": "schema"
--    },
--    {
--     "kind": "not_equal",
--     "field": "schema",
--     "reason": "expected 'closeloop.feedback.v1'",
--     "member": "schema",
--     "arg": "\"closeloop.feedback.v1\""
--    },
--    {
--     "kind": "not_string",
--     "field": "feedback_id",
--     "reason": "Input should be a valid string",
--     "member": "feedback_id"
--    },
--    {
--     "kind": "too_short",
--     "field": "feedback_id",
--     "reason": "String should have at least 1 character",
--     "member": "feedback_id",
--     "arg": 1
--    },
--    {
--     "kind": "too_long",
--     "field": "feedback_id",
--     "reason": "String should have at most 128 characters",
--     "member": "feedback_id",
--     "arg": 128
--    },
--    {
--     "kind": "no_match",
--     "field": "feedback_id",
--     "reason": "String should match pattern '^[\\w.:@/-]+$'",
--     "member": "feedback_id",
--     "arg": "^[\\w.:@/-]+$"
--    },
--    {
--     "kind": "absent",
--     "field": "prediction_id",
--     "reason": "Field required",
--     "member": "prediction_id"
--    },
--    {
--     "kind": "not_string",
--     "field": "prediction_id",
--     "reason": "Input should be a valid string",
--     "member": "prediction_id"
--    },
--    {
--     "kind": "too_short",
--     "field": "prediction_id",
--     "reason": "String should have at least 1 character",
--     "member": "prediction_id",
--     "arg": 1
--    },
--    {
--     "kind": "too_long",
--     "field": "prediction_id",
--     "reason": "String should have at most 128 characters",
--     "member": "prediction_id",
--     "arg": 128
--    },
--    {
--     "kind": "no_match",
--     "field": "prediction_id",
--     "reason": "String should match pattern '^[\\w.:@/-]+$'",
--     "member": "prediction_id",
--     "arg": "^[\\w.:@/-]+$"
--    },
--    {
--     "kind": "not_string",
--     "field": "model_name",
--     "reason": "Input should be a valid string",
--     "member": "model_name"
--    },
--    {
--     "kind": "too_short",
--     "field": "model_name",
--     "reason": "String should have at least 1 character",
--     "member": "model_name",
--     "arg": 1
--    },
--    {
--     "kind": "too_long",
--     "field": "model_name",
--     "reason": "String should have at most 256 characters",
--     "member": "model_name",
--     "arg": 256
--    },
--    {
--     "kind": "no_match",
--     "field": "model_name",
--     "reason": "String should match pattern '^[\\w.-]+$'",
--     "member": "model_name",
--     "arg": "^[\\w.-]+$"
--    },
--    {
--     "kind": "not_string",
--     "field": "task",
--     "reason": "Input should be a valid string",
--     "member": "task"
--    },
--    {
--     "kind": "absent",
--     "field": "ground_truth",
--     "reason": "Field required",
--     "member": "ground_truth"
--    },
--    {
--     "kind": "not_string",
--     "field": "source",
--     "reason": "Input should be a valid string",
--     "member": "source"
--    },
--    {
--     "kind": "too_long",
--     "field": "source",
--     "reason": "String should have at most 64 characters",
--     "member": "source",
--     "arg": 64
--    },
--    {
--     "kind": "bad_ts",
--     "field": "ts",
--     "reason": "must be an ISO-8601 UTC time like 2026-11-22T10:00:00.123Z"
--    }
--   ]
--  }
-- }

CREATE TEMPORARY FUNCTION utf8 AS 'io.closeloop.flink.Utf8Function' LANGUAGE JAVA;
CREATE TEMPORARY FUNCTION event_time AS 'io.closeloop.flink.EventTimeFunction' LANGUAGE JAVA;
CREATE TEMPORARY FUNCTION drift_bins AS 'io.closeloop.flink.DriftBinsFunction' LANGUAGE JAVA;
CREATE TEMPORARY FUNCTION sum_map AS 'io.closeloop.flink.SumMapFunction' LANGUAGE JAVA;
CREATE TEMPORARY FUNCTION latency_sketch AS 'io.closeloop.flink.LatencySketchFunction' LANGUAGE JAVA;
CREATE TEMPORARY FUNCTION merge_latency_sketches AS 'io.closeloop.flink.MergeLatencySketchesFunction' LANGUAGE JAVA;
CREATE TEMPORARY FUNCTION latency_quantiles AS 'io.closeloop.flink.LatencyQuantilesFunction' LANGUAGE JAVA;
CREATE TEMPORARY FUNCTION count_dead_letter AS 'io.closeloop.flink.CountDeadLetterFunction' LANGUAGE JAVA;
CREATE TABLE metrics_sink (
    k STRING,
    v STRING
) WITH (
    'connector' = 'kafka',
    'topic' = 'closeloop.metrics',
    'properties.bootstrap.servers' = '127.0.0.1:9092',
    'key.format' = 'raw',
    'key.fields' = 'k',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY',
    'sink.delivery-guarantee' = 'at-least-once',
    -- Small batches, small buffers: the local TaskManager's heap is small.
    'properties.buffer.memory' = '8388608'
);
CREATE TABLE dlq_sink (
    k STRING,
    v STRING
) WITH (
    'connector' = 'kafka',
    'topic' = 'closeloop.dlq',
    'properties.bootstrap.servers' = '127.0.0.1:9092',
    'key.format' = 'raw',
    'key.fields' = 'k',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY',
    'sink.delivery-guarantee' = 'at-least-once',
    -- Small batches, small buffers: the local TaskManager's heap is small.
    'properties.buffer.memory' = '8388608'
);
CREATE TABLE alerts_sink (
    k STRING,
    v STRING
) WITH (
    'connector' = 'kafka',
    'topic' = 'closeloop.alerts',
    'properties.bootstrap.servers' = '127.0.0.1:9092',
    'key.format' = 'raw',
    'key.fields' = 'k',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY',
    'sink.delivery-guarantee' = 'at-least-once',
    -- Small batches, small buffers: the local TaskManager's heap is small.
    'properties.buffer.memory' = '8388608'
);
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
    'path' = 's3://closeloop-lake/feedback',
    'format' = 'parquet',
    -- Plain values, no dictionaries: most columns differ in every row (ids, inputs,
    -- times), so a dictionary only fills up and is dropped, and the lookups into it
    -- (the times hash poorly) cost two fifths of the lake writer's time. Parquet's own
    -- per-column switch is not read by Flink's writer.
    'parquet.enable.dictionary' = 'false',
    'sink.partition-commit.policy.kind' = 'success-file'
);
CREATE TABLE metrics_source (
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
    -- serializer puts it ({"ts":"2026-11-22T10:00:00.123Z",…), without parsing the
    -- event (flink/functions: EventTime).
    event_ts AS event_time(`value`, kafka_ts, CAST(300000 AS BIGINT)),
    WATERMARK FOR event_ts AS event_ts - INTERVAL '0 00:00:05' DAY TO SECOND
) WITH (
    'connector' = 'kafka',
    'topic' = 'closeloop.metrics',
    'properties.bootstrap.servers' = '127.0.0.1:9092',
    'properties.group.id' = 'closeloop-feedback-alerts',
    'properties.isolation.level' = 'read_committed',
    'scan.startup.mode' = 'group-offsets',
    'properties.auto.offset.reset' = 'earliest',
    'scan.watermark.idle-timeout' = '30 s',
    'key.format' = 'raw',
    'key.fields' = 'message_key',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY'
);
CREATE TEMPORARY VIEW facts AS
SELECT model_name, model_version, task,
    CASE WHEN kind = 'prediction' THEN 1 ELSE 0 END AS predictions,
    CASE WHEN kind = 'prediction' AND error IS NOT NULL THEN 1 ELSE 0 END AS errors,
    CASE WHEN kind = 'feedback' THEN 1 ELSE 0 END AS feedback,
    -- A label taken back (pair_join's retraction) counts -1, its statistics negated.
    CASE WHEN labeled THEN 1 WHEN kind = 'retraction' THEN -1 ELSE 0 END AS labeled,
    latency_ms,
    -- The prediction's bin in each profiled column of its version's reference profile: of
    -- the numbers the model computed from a raw input, or else of the inputs.
    CASE WHEN kind = 'prediction' AND TRUE THEN drift_bins(
        's3://closeloop-lake/profiles', 60, model_name, model_version, COALESCE(features, inputs),
        CASE WHEN error IS NULL THEN output END) END AS bins,
    CASE WHEN field IS NULL THEN stats END AS stats,
    rowtime
FROM paired
WHERE kind <> 'dead_letter';
CREATE TEMPORARY VIEW tumbling_sums AS
SELECT window_start AS tumble_start, window_end AS tumble_end, window_time,
    model_name, model_version, task,
    SUM(predictions) AS predictions, SUM(errors) AS errors, SUM(feedback) AS feedback, SUM(labeled) AS labeled,
    latency_sketch(latency_ms) AS latency,
    sum_map(stats) AS totals,
    sum_map(bins) AS bins
FROM TABLE(TUMBLE(TABLE facts, DESCRIPTOR(rowtime), INTERVAL '0 00:01:00' DAY TO SECOND))
GROUP BY window_start, window_end, window_time, model_name, model_version, task;
INSERT INTO dlq_sink
SELECT message_key, count_dead_letter(source_topic, field, JSON_OBJECT(
        'ts' VALUE DATE_FORMAT(CURRENT_TIMESTAMP, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z'''),
        'schema' VALUE 'closeloop.dead-letter.v1',
        'source_topic' VALUE source_topic,
        'partition' VALUE `partition`,
        'offset' VALUE `offset`,
        'message_key' VALUE message_key,
        'reason' VALUE reason,
        'field' VALUE field,
        'original_base64' VALUE TO_BASE64(body),
        'original' VALUE body,
        'rejected_by' VALUE 'flink'
        ABSENT ON NULL))
FROM (
    SELECT message_key, COALESCE(source_topic, 'closeloop.feedback') AS source_topic, COALESCE(field, SPLIT_INDEX(reason, CHR(9), 0)) AS field, CASE WHEN reason IS NULL THEN 'prediction_id: no prediction with this id at or up to the label delay (86400 s) before the feedback''s time' ELSE REPLACE(reason, CHR(9), ': ') END AS reason,
        body, `partition`, `offset`
    FROM paired
    WHERE kind = 'dead_letter' OR field IS NOT NULL
    UNION ALL
    SELECT message_key, source_topic, SPLIT_INDEX(problem, CHR(9), 0), REPLACE(problem, CHR(9), ': '),
        body, `partition`, `offset`
    FROM invalid_events);
INSERT INTO metrics_sink
SELECT model_name, metrics_event(
    model_name, model_version, task, 'tumbling', window_start, window_end,
    predictions, errors, feedback, labeled, latency_quantiles(latency), totals, bins)
FROM (
    SELECT tumble_start AS window_start, tumble_end AS window_end, model_name, model_version, task,
        predictions, errors, feedback, labeled, latency, totals, bins
    FROM tumbling_sums)
UNION ALL
SELECT model_name, metrics_event(
    model_name, model_version, task, 'sliding', window_start, window_end,
    predictions, errors, feedback, labeled, latency_quantiles(latency), totals, bins)
FROM (
    SELECT window_start, window_end, model_name, model_version, task,
        SUM(predictions) AS predictions, SUM(errors) AS errors, SUM(feedback) AS feedback, SUM(labeled) AS labeled,
        merge_latency_sketches(latency) AS latency,
        sum_map(totals) AS totals,
        sum_map(bins) AS bins
    FROM TABLE(HOP(TABLE tumbling_sums, DESCRIPTOR(window_time), INTERVAL '0 00:01:00' DAY TO SECOND, INTERVAL '0 00:05:00' DAY TO SECOND))
    GROUP BY window_start, window_end, model_name, model_version, task);
INSERT INTO lake_sink
SELECT pid, model_version, task, inputs, output, ground_truth, source,
       -- Plain timestamps: a sink takes at most one time attribute.
       prediction_ts, CAST(rowtime AS TIMESTAMP(3)),
       model_name, DATE_FORMAT(rowtime, 'yyyy-MM-dd')
FROM paired
WHERE labeled AND field IS NULL;
