"""The one keyed step per prediction: checked predictions and feedback, united and partitioned by id.

The union feeds the JVM process table function ``pair_join``
(flink/functions, io.closeloop.flink.PairJoin) in arrival order: it
deduplicates both streams, joins feedback to its prediction within the label
delay, picks and scores the label, and turns unmatched feedback into dead
letters, with point lookups in one small state value per prediction id. The
first feedback to arrive is the label at once; one of an earlier time that
arrives after it takes its place, and a ``retraction`` row at the old label's
time takes that back in its windows (``labeled`` -1, statistics negated), so
"the first feedback is the label" (by time, then offset) means one thing in a
run and in a replay. No ORDER BY: Flink's sort buffer for it scans a RocksDB
map per id and time. Everything after it reads its output, so the planner
runs it once.
"""

from __future__ import annotations

from closeloop.config import Topics
from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.stages.literals import absent, member, text

__all__ = ["EVENT_COLUMNS", "events_view", "paired_view"]


#: The keyed step's input, in the order it reads it (io.closeloop.flink.PairJoin#EVENTS: its
#: columns by position): (column, from a prediction, from a feedback).
EVENT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("pid", text("prediction_id"), text("prediction_id")),
    ("kind", "'prediction'", "'feedback'"),
    ("message_key", "message_key", "message_key"),
    ("body", "CAST(NULL AS STRING)", "body"),
    ("`partition`", "`partition`", "`partition`"),
    ("`offset`", "`offset`", "`offset`"),
    ("model_name", text("model_name"), "CAST(NULL AS STRING)"),
    ("model_version", text("model_version"), "CAST(NULL AS STRING)"),
    ("task", text("task"), "CAST(NULL AS STRING)"),
    ("output", f"CASE WHEN NOT {absent('output')} THEN {member('output')} END", "CAST(NULL AS STRING)"),
    ("error", text("error"), "CAST(NULL AS STRING)"),
    ("latency_ms", f"TRY_CAST({member('latency_ms')} AS DOUBLE)", "CAST(NULL AS DOUBLE)"),
    ("inputs", member("inputs"), "CAST(NULL AS STRING)"),
    # What drift bins, when the model computed it from a raw input.
    ("features", member("features"), "CAST(NULL AS STRING)"),
    # Feedback without an id is deduplicated by its whole body.
    (
        "feedback_id",
        "CAST(NULL AS STRING)",
        f"CASE WHEN {absent('feedback_id')} THEN TO_BASE64(body) ELSE {text('feedback_id')} END",
    ),
    ("ground_truth", "CAST(NULL AS STRING)", member("ground_truth")),
    ("source", "CAST(NULL AS STRING)", text("source")),
    ("event_ts", "event_ts", "event_ts"),
)


def events_view(topics: Topics) -> str:
    """Valid predictions and feedback in one shape, on their event time.

    Invalid events go to the dead letters straight from their checks: a
    broken event's time is the epoch, and late ones are caught there against
    their own stream's watermark.
    """

    def select(side: int, view: str) -> str:
        columns = ",\n    ".join(
            column[side] if column[side] == column[0] else f"{column[side]} AS {column[0]}"
            for column in EVENT_COLUMNS
        )
        return f"SELECT\n    {columns}\nFROM {view}\nWHERE problem IS NULL"

    return f"""
CREATE TEMPORARY VIEW events AS
{select(1, "prediction_checked")}
UNION ALL
{select(2, "feedback_checked")}"""


def paired_view(s: FeedbackJobSettings) -> str:
    return f"""
CREATE TEMPORARY VIEW paired AS
SELECT * FROM pair_join(
    input => TABLE events PARTITION BY pid,
    on_time => DESCRIPTOR(event_ts),
    label_delay_ms => CAST({s.label_delay_s * 1000} AS BIGINT),
    uid => 'pair-join')"""
