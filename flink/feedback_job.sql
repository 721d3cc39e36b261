-- The feedback job's SQL with the default settings, as
-- `python flink/feedback_job.py --print-sql` prints it: `make flink/feedback_job.sql`.

CREATE TEMPORARY FUNCTION ts_text AS 'io.closeloop.flink.TsTextFunction' LANGUAGE JAVA;
CREATE TEMPORARY FUNCTION ts_parsed AS 'io.closeloop.flink.TsParsedFunction' LANGUAGE JAVA;
CREATE TEMPORARY FUNCTION event_members AS 'io.closeloop.flink.EventMembersFunction' LANGUAGE JAVA;
CREATE TEMPORARY FUNCTION pair_join AS 'io.closeloop.flink.PairJoin' LANGUAGE JAVA;
CREATE TEMPORARY FUNCTION drift_bins AS 'io.closeloop.flink.DriftBinsFunction' LANGUAGE JAVA;
CREATE TEMPORARY FUNCTION sum_map AS 'io.closeloop.flink.SumMapFunction' LANGUAGE JAVA;
CREATE TEMPORARY FUNCTION latency_quantiles AS 'io.closeloop.flink.LatencyQuantilesFunction' LANGUAGE JAVA;
CREATE TEMPORARY FUNCTION count_dead_letter AS 'io.closeloop.flink.CountDeadLetterFunction' LANGUAGE JAVA;
CREATE TABLE prediction_source (
    message_key STRING,
    body STRING,
    `partition` INT METADATA VIRTUAL,
    `offset` BIGINT METADATA VIRTUAL,
    kafka_ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
    -- `ts` once, for the event time and for the checks: NULL when absent or
    -- null, and then as a time, NULL when it is not one.
    ts_text AS ts_text(body),
    ts_parsed AS ts_parsed(body),
    -- Event time is the event's own `ts`, or Kafka's timestamp where it has none
    -- (the contract's default: now). A broken or far-future `ts` gets the epoch:
    -- such a row goes to the dead-letter topic and must not move the watermark.
    event_ts AS CASE
        WHEN ts_text(body) IS NULL AND NOT (body IS JSON OBJECT) THEN TIMESTAMP '1970-01-01 00:00:00.000'
        WHEN ts_text(body) IS NULL THEN CAST(kafka_ts AS TIMESTAMP(3))
        WHEN ts_parsed(body) <= CAST(kafka_ts AS TIMESTAMP(3)) + INTERVAL '0 00:05:00' DAY TO SECOND
            THEN ts_parsed(body)
        ELSE TIMESTAMP '1970-01-01 00:00:00.000' END,
    WATERMARK FOR event_ts AS event_ts - INTERVAL '0 00:00:05' DAY TO SECOND
) WITH (
    'connector' = 'kafka',
    'topic' = 'closeloop.predictions',
    'properties.bootstrap.servers' = '127.0.0.1:9092',
    'properties.group.id' = 'closeloop-feedback-predictions',
    'properties.isolation.level' = 'read_committed',
    'scan.startup.mode' = 'group-offsets',
    'properties.auto.offset.reset' = 'earliest',
    'scan.watermark.idle-timeout' = '30 s',
    'key.format' = 'raw',
    'key.fields' = 'message_key',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY'
);
CREATE TABLE feedback_source (
    message_key STRING,
    body STRING,
    `partition` INT METADATA VIRTUAL,
    `offset` BIGINT METADATA VIRTUAL,
    kafka_ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
    -- `ts` once, for the event time and for the checks: NULL when absent or
    -- null, and then as a time, NULL when it is not one.
    ts_text AS ts_text(body),
    ts_parsed AS ts_parsed(body),
    -- Event time is the event's own `ts`, or Kafka's timestamp where it has none
    -- (the contract's default: now). A broken or far-future `ts` gets the epoch:
    -- such a row goes to the dead-letter topic and must not move the watermark.
    event_ts AS CASE
        WHEN ts_text(body) IS NULL AND NOT (body IS JSON OBJECT) THEN TIMESTAMP '1970-01-01 00:00:00.000'
        WHEN ts_text(body) IS NULL THEN CAST(kafka_ts AS TIMESTAMP(3))
        WHEN ts_parsed(body) <= CAST(kafka_ts AS TIMESTAMP(3)) + INTERVAL '0 00:05:00' DAY TO SECOND
            THEN ts_parsed(body)
        ELSE TIMESTAMP '1970-01-01 00:00:00.000' END,
    WATERMARK FOR event_ts AS event_ts - INTERVAL '0 00:00:05' DAY TO SECOND
) WITH (
    'connector' = 'kafka',
    'topic' = 'closeloop.feedback',
    'properties.bootstrap.servers' = '127.0.0.1:9092',
    'properties.group.id' = 'closeloop-feedback-feedback',
    'properties.isolation.level' = 'read_committed',
    'scan.startup.mode' = 'group-offsets',
    'properties.auto.offset.reset' = 'earliest',
    'scan.watermark.idle-timeout' = '30 s',
    'key.format' = 'raw',
    'key.fields' = 'message_key',
    'value.format' = 'raw',
    'value.fields-include' = 'EXCEPT_KEY'
);
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
    'sink.partition-commit.policy.kind' = 'success-file'
);
CREATE TABLE metrics_source (
    message_key STRING,
    body STRING,
    `partition` INT METADATA VIRTUAL,
    `offset` BIGINT METADATA VIRTUAL,
    kafka_ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
    -- `ts` once, for the event time and for the checks: NULL when absent or
    -- null, and then as a time, NULL when it is not one.
    ts_text AS ts_text(body),
    ts_parsed AS ts_parsed(body),
    -- Event time is the event's own `ts`, or Kafka's timestamp where it has none
    -- (the contract's default: now). A broken or far-future `ts` gets the epoch:
    -- such a row goes to the dead-letter topic and must not move the watermark.
    event_ts AS CASE
        WHEN ts_text(body) IS NULL AND NOT (body IS JSON OBJECT) THEN TIMESTAMP '1970-01-01 00:00:00.000'
        WHEN ts_text(body) IS NULL THEN CAST(kafka_ts AS TIMESTAMP(3))
        WHEN ts_parsed(body) <= CAST(kafka_ts AS TIMESTAMP(3)) + INTERVAL '0 00:05:00' DAY TO SECOND
            THEN ts_parsed(body)
        ELSE TIMESTAMP '1970-01-01 00:00:00.000' END,
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
CREATE TEMPORARY VIEW prediction_checked_members AS
SELECT
    message_key, body, `partition`, `offset`, kafka_ts, ts_text, ts_parsed, event_ts,
    event_members(body, 'schema,prediction_id,model_name,model_version,task,inputs,error,output,latency_ms') AS members
FROM prediction_source;
CREATE TEMPORARY VIEW prediction_checked_json AS
SELECT
    message_key, body, `partition`, `offset`, kafka_ts, ts_text, ts_parsed, event_ts, members,
    members[1] AS j_schema,
    members[2] AS j_prediction_id,
    members[3] AS j_model_name,
    members[4] AS j_model_version,
    members[5] AS j_task,
    members[6] AS j_inputs,
    members[7] AS j_error,
    members[8] AS j_output,
    members[9] AS j_latency_ms,
    members[10] AS t_schema,
    members[11] AS t_prediction_id,
    members[12] AS t_model_name,
    members[13] AS t_model_version,
    members[14] AS t_task,
    members[15] AS t_inputs,
    members[16] AS t_error,
    members[17] AS t_output,
    members[18] AS t_latency_ms
FROM prediction_checked_members;
CREATE TEMPORARY VIEW prediction_checked AS
SELECT
    message_key, body, `partition`, `offset`, event_ts, j_schema, j_prediction_id, j_model_name, j_model_version, j_task, j_inputs, j_error, j_output, j_latency_ms, t_schema, t_prediction_id, t_model_name, t_model_version, t_task, t_inputs, t_error, t_output, t_latency_ms,
    CASE
        WHEN members IS NULL THEN '(event)	not a JSON object'
        WHEN j_schema IS NULL THEN 'schema	missing; every event names its type'
        WHEN j_schema <> '"closeloop.prediction.v1"' THEN 'schema	expected ''closeloop.prediction.v1'''
        WHEN j_prediction_id IS NULL THEN 'prediction_id	Field required'
        WHEN NOT j_prediction_id IS NULL AND LEFT(j_prediction_id, 1) <> '"' THEN 'prediction_id	Input should be a valid string'
        WHEN CHAR_LENGTH(t_prediction_id) < 1 THEN 'prediction_id	String should have at least 1 character'
        WHEN CHAR_LENGTH(t_prediction_id) > 128 THEN 'prediction_id	String should have at most 128 characters'
        WHEN NOT REGEXP(t_prediction_id, '(?U)^[\w.:@/-]+$') THEN 'prediction_id	String should match pattern ''^[\w.:@/-]+$'''
        WHEN j_model_name IS NULL THEN 'model_name	Field required'
        WHEN NOT j_model_name IS NULL AND LEFT(j_model_name, 1) <> '"' THEN 'model_name	Input should be a valid string'
        WHEN CHAR_LENGTH(t_model_name) < 1 THEN 'model_name	String should have at least 1 character'
        WHEN CHAR_LENGTH(t_model_name) > 256 THEN 'model_name	String should have at most 256 characters'
        WHEN NOT REGEXP(t_model_name, '(?U)^[\w.-]+$') THEN 'model_name	String should match pattern ''^[\w.-]+$'''
        WHEN j_model_version IS NULL THEN 'model_version	Field required'
        WHEN NOT j_model_version IS NULL AND LEFT(j_model_version, 1) <> '"' THEN 'model_version	Input should be a valid string'
        WHEN CHAR_LENGTH(t_model_version) < 1 THEN 'model_version	String should have at least 1 character'
        WHEN CHAR_LENGTH(t_model_version) > 64 THEN 'model_version	String should have at most 64 characters'
        WHEN j_task IS NULL THEN 'task	Field required'
        WHEN NOT j_task IS NULL AND LEFT(j_task, 1) <> '"' THEN 'task	Input should be a valid string'
        WHEN j_inputs IS NULL THEN 'inputs	Field required'
        WHEN NOT j_inputs IS NULL AND LEFT(j_inputs, 1) <> '{' THEN 'inputs	Input should be a valid dictionary'
        WHEN NOT j_error IS NULL AND LEFT(j_error, 1) <> '"' THEN 'error	Input should be a valid string'
        WHEN j_latency_ms IS NULL THEN 'latency_ms	Field required'
        WHEN (TRY_CAST(j_latency_ms AS DOUBLE) IS NULL OR NOT (TRY_CAST(j_latency_ms AS DOUBLE) >= 0)) THEN 'latency_ms	must be a number, it >= 0'
        WHEN j_task NOT IN ('"classification"', '"detection"', '"ocr"', '"regression"', '"speech_to_text"') THEN 'task	unknown task; known tasks: classification, detection, ocr, regression, speech_to_text'
        WHEN ts_text IS NOT NULL AND ts_parsed IS NULL THEN 'ts	must be an ISO-8601 UTC time like 2026-11-22T10:00:00.123Z'
        WHEN j_error IS NULL AND j_output IS NULL THEN 'output	must not be null unless error is set'
        WHEN NOT j_error IS NULL AND NOT j_output IS NULL THEN 'output	must be null when error is set'
        WHEN ts_parsed > CAST(kafka_ts AS TIMESTAMP(3)) + INTERVAL '0 00:05:00' DAY TO SECOND THEN 'ts	more than 300 s after the time Kafka received the event'
        WHEN event_ts <= CURRENT_WATERMARK(event_ts) THEN 'ts	late: behind the stream''s watermark (out-of-orderness allowed: 5 s)'
        ELSE CAST(NULL AS STRING) END AS problem
FROM prediction_checked_json;
CREATE TEMPORARY VIEW feedback_checked_members AS
SELECT
    message_key, body, `partition`, `offset`, kafka_ts, ts_text, ts_parsed, event_ts,
    event_members(body, 'schema,feedback_id,prediction_id,model_name,task,ground_truth,source') AS members
FROM feedback_source;
CREATE TEMPORARY VIEW feedback_checked_json AS
SELECT
    message_key, body, `partition`, `offset`, kafka_ts, ts_text, ts_parsed, event_ts, members,
    members[1] AS j_schema,
    members[2] AS j_feedback_id,
    members[3] AS j_prediction_id,
    members[4] AS j_model_name,
    members[5] AS j_task,
    members[6] AS j_ground_truth,
    members[7] AS j_source,
    members[8] AS t_schema,
    members[9] AS t_feedback_id,
    members[10] AS t_prediction_id,
    members[11] AS t_model_name,
    members[12] AS t_task,
    members[13] AS t_ground_truth,
    members[14] AS t_source
FROM feedback_checked_members;
CREATE TEMPORARY VIEW feedback_checked AS
SELECT
    message_key, body, `partition`, `offset`, event_ts, j_schema, j_feedback_id, j_prediction_id, j_model_name, j_task, j_ground_truth, j_source, t_schema, t_feedback_id, t_prediction_id, t_model_name, t_task, t_ground_truth, t_source,
    CASE
        WHEN members IS NULL THEN '(event)	not a JSON object'
        WHEN j_schema IS NULL THEN 'schema	missing; every event names its type'
        WHEN j_schema <> '"closeloop.feedback.v1"' THEN 'schema	expected ''closeloop.feedback.v1'''
        WHEN NOT j_feedback_id IS NULL AND LEFT(j_feedback_id, 1) <> '"' THEN 'feedback_id	Input should be a valid string'
        WHEN CHAR_LENGTH(t_feedback_id) < 1 THEN 'feedback_id	String should have at least 1 character'
        WHEN CHAR_LENGTH(t_feedback_id) > 128 THEN 'feedback_id	String should have at most 128 characters'
        WHEN NOT REGEXP(t_feedback_id, '(?U)^[\w.:@/-]+$') THEN 'feedback_id	String should match pattern ''^[\w.:@/-]+$'''
        WHEN j_prediction_id IS NULL THEN 'prediction_id	Field required'
        WHEN NOT j_prediction_id IS NULL AND LEFT(j_prediction_id, 1) <> '"' THEN 'prediction_id	Input should be a valid string'
        WHEN CHAR_LENGTH(t_prediction_id) < 1 THEN 'prediction_id	String should have at least 1 character'
        WHEN CHAR_LENGTH(t_prediction_id) > 128 THEN 'prediction_id	String should have at most 128 characters'
        WHEN NOT REGEXP(t_prediction_id, '(?U)^[\w.:@/-]+$') THEN 'prediction_id	String should match pattern ''^[\w.:@/-]+$'''
        WHEN NOT j_model_name IS NULL AND LEFT(j_model_name, 1) <> '"' THEN 'model_name	Input should be a valid string'
        WHEN CHAR_LENGTH(t_model_name) < 1 THEN 'model_name	String should have at least 1 character'
        WHEN CHAR_LENGTH(t_model_name) > 256 THEN 'model_name	String should have at most 256 characters'
        WHEN NOT REGEXP(t_model_name, '(?U)^[\w.-]+$') THEN 'model_name	String should match pattern ''^[\w.-]+$'''
        WHEN NOT j_task IS NULL AND LEFT(j_task, 1) <> '"' THEN 'task	Input should be a valid string'
        WHEN j_ground_truth IS NULL THEN 'ground_truth	Field required'
        WHEN NOT j_source IS NULL AND LEFT(j_source, 1) <> '"' THEN 'source	Input should be a valid string'
        WHEN CHAR_LENGTH(t_source) > 64 THEN 'source	String should have at most 64 characters'
        WHEN ts_text IS NOT NULL AND ts_parsed IS NULL THEN 'ts	must be an ISO-8601 UTC time like 2026-11-22T10:00:00.123Z'
        WHEN ts_parsed > CAST(kafka_ts AS TIMESTAMP(3)) + INTERVAL '0 00:05:00' DAY TO SECOND THEN 'ts	more than 300 s after the time Kafka received the event'
        WHEN event_ts <= CURRENT_WATERMARK(event_ts) THEN 'ts	late: behind the stream''s watermark (out-of-orderness allowed: 5 s)'
        ELSE CAST(NULL AS STRING) END AS problem
FROM feedback_checked_json;
CREATE TEMPORARY VIEW events AS
SELECT
    t_prediction_id AS pid,
    'prediction' AS kind,
    message_key, CAST(NULL AS STRING) AS body, `partition`, `offset`,
    t_model_name AS model_name,
    t_model_version AS model_version,
    t_task AS task,
    CASE WHEN NOT j_output IS NULL THEN j_output END AS output,
    t_error AS error,
    TRY_CAST(j_latency_ms AS DOUBLE) AS latency_ms,
    j_inputs AS inputs,
    CAST(NULL AS STRING) AS feedback_id,
    CAST(NULL AS STRING) AS ground_truth,
    CAST(NULL AS STRING) AS source,
    event_ts
FROM prediction_checked
WHERE problem IS NULL
UNION ALL
SELECT
    t_prediction_id,
    'feedback',
    message_key, body, `partition`, `offset`,
    CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS STRING),
    CAST(NULL AS STRING), CAST(NULL AS DOUBLE), CAST(NULL AS STRING),
    -- Feedback without an id is deduplicated by its whole body.
    CASE WHEN j_feedback_id IS NULL THEN TO_BASE64(body) ELSE t_feedback_id END,
    j_ground_truth,
    t_source,
    event_ts
FROM feedback_checked
WHERE problem IS NULL;
CREATE TEMPORARY VIEW paired AS
SELECT * FROM pair_join(
    input => TABLE events PARTITION BY pid,
    on_time => DESCRIPTOR(event_ts),
    label_delay_ms => CAST(86400000 AS BIGINT),
    uid => 'pair-join');
CREATE TEMPORARY VIEW facts AS
SELECT model_name, model_version, task,
    CASE WHEN kind = 'prediction' THEN 1 ELSE 0 END AS predictions,
    CASE WHEN kind = 'prediction' AND error IS NOT NULL THEN 1 ELSE 0 END AS errors,
    CASE WHEN kind = 'feedback' THEN 1 ELSE 0 END AS feedback,
    CASE WHEN labeled THEN 1 ELSE 0 END AS labeled,
    latency_ms,
    -- The prediction's bin in each profiled column of its version's reference profile.
    CASE WHEN kind = 'prediction' AND TRUE THEN drift_bins(
        's3://closeloop-lake/profiles', 60, model_name, model_version, inputs,
        CASE WHEN error IS NULL THEN output END) END AS bins,
    CASE WHEN field IS NULL THEN stats END AS stats,
    rowtime
FROM paired
WHERE kind <> 'dead_letter';
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
    SELECT message_key, 'closeloop.predictions', SPLIT_INDEX(problem, CHR(9), 0), REPLACE(problem, CHR(9), ': '),
        body, `partition`, `offset`
    FROM prediction_checked
    WHERE problem IS NOT NULL
    UNION ALL
    SELECT message_key, 'closeloop.feedback', SPLIT_INDEX(problem, CHR(9), 0), REPLACE(problem, CHR(9), ': '),
        body, `partition`, `offset`
    FROM feedback_checked
    WHERE problem IS NOT NULL);
INSERT INTO metrics_sink
SELECT model_name, metrics_event(
    model_name, model_version, task, 'tumbling', window_start, window_end,
    predictions, errors, feedback, labeled, latency, totals, bins)
FROM (
    SELECT window_start, window_end, model_name, model_version, task,
        SUM(predictions) AS predictions, SUM(errors) AS errors,
        SUM(feedback) AS feedback, SUM(labeled) AS labeled,
        latency_quantiles(latency_ms) AS latency,
        sum_map(stats) AS totals,
        sum_map(bins) AS bins
    FROM TABLE(TUMBLE(TABLE facts, DESCRIPTOR(rowtime), INTERVAL '0 00:01:00' DAY TO SECOND))
    GROUP BY window_start, window_end, model_name, model_version, task)
UNION ALL
SELECT model_name, metrics_event(
    model_name, model_version, task, 'sliding', window_start, window_end,
    predictions, errors, feedback, labeled, latency, totals, bins)
FROM (
    SELECT window_start, window_end, model_name, model_version, task,
        SUM(predictions) AS predictions, SUM(errors) AS errors,
        SUM(feedback) AS feedback, SUM(labeled) AS labeled,
        latency_quantiles(latency_ms) AS latency,
        sum_map(stats) AS totals,
        sum_map(bins) AS bins
    FROM TABLE(HOP(TABLE facts, DESCRIPTOR(rowtime), INTERVAL '0 00:01:00' DAY TO SECOND, INTERVAL '0 00:05:00' DAY TO SECOND))
    GROUP BY window_start, window_end, model_name, model_version, task);
INSERT INTO lake_sink
SELECT pid, model_version, task, inputs, output, ground_truth, source,
       -- Plain timestamps: a sink takes at most one time attribute.
       prediction_ts, CAST(rowtime AS TIMESTAMP(3)),
       model_name, DATE_FORMAT(rowtime, 'yyyy-MM-dd')
FROM paired
WHERE labeled AND field IS NULL;
