"""The one keyed step per prediction: checked predictions and feedback, united and partitioned by id.

The union feeds the JVM process table function ``pair_join``
(flink/functions, io.closeloop.flink.PairJoin) in arrival order: it
deduplicates both streams, joins feedback to its prediction within the label
delay, picks and scores the label, and turns unmatched feedback into dead
letters, with point lookups in one small state value per prediction id. A
feedback that may be the label waits for the watermark to pass its time, so
"the first feedback is the label" (by time, then offset) means one thing in a
run and in a replay. No ORDER BY: Flink's sort buffer for it scans a RocksDB
map per id and time. Everything after it reads its output, so the planner
runs it once.
"""

from __future__ import annotations

from closeloop.config import Topics
from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.stages.literals import absent, member, text

__all__ = ["events_view", "paired_view"]


def events_view(topics: Topics) -> str:
    """Valid predictions and feedback in one shape, on their event time.

    Invalid events go to the dead letters straight from their checks: a
    broken event's time is the epoch, and late ones are caught there against
    their own stream's watermark.
    """
    return f"""
CREATE TEMPORARY VIEW events AS
SELECT
    {text("prediction_id")} AS pid,
    'prediction' AS kind,
    message_key, CAST(NULL AS STRING) AS body, `partition`, `offset`,
    {text("model_name")} AS model_name,
    {text("model_version")} AS model_version,
    {text("task")} AS task,
    CASE WHEN NOT {absent("output")} THEN {member("output")} END AS output,
    {text("error")} AS error,
    TRY_CAST({member("latency_ms")} AS DOUBLE) AS latency_ms,
    {member("inputs")} AS inputs,
    -- What drift bins, when the model computed it from a raw input.
    {member("features")} AS features,
    CAST(NULL AS STRING) AS feedback_id,
    CAST(NULL AS STRING) AS ground_truth,
    CAST(NULL AS STRING) AS source,
    event_ts
FROM prediction_checked
WHERE problem IS NULL
UNION ALL
SELECT
    {text("prediction_id")},
    'feedback',
    message_key, body, `partition`, `offset`,
    CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS STRING),
    CAST(NULL AS STRING), CAST(NULL AS DOUBLE), CAST(NULL AS STRING), CAST(NULL AS STRING),
    -- Feedback without an id is deduplicated by its whole body.
    CASE WHEN {absent("feedback_id")} THEN TO_BASE64(body) ELSE {text("feedback_id")} END,
    {member("ground_truth")},
    {text("source")},
    event_ts
FROM feedback_checked
WHERE problem IS NULL"""


def paired_view(s: FeedbackJobSettings) -> str:
    return f"""
CREATE TEMPORARY VIEW paired AS
SELECT * FROM pair_join(
    input => TABLE events PARTITION BY pid,
    on_time => DESCRIPTOR(event_ts),
    label_delay_ms => CAST({s.label_delay_s * 1000} AS BIGINT),
    uid => 'pair-join')"""
