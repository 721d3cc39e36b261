"""The feedback job's Flink SQL, as named statements built from the settings.

Everything heavy runs as SQL in the JVM: parsing and checking events,
deduplication, the prediction ⋈ feedback temporal join, and the windowed
counts and latency quantiles. Python UDFs (closeloop.streaming.udfs) only
score labeled examples through their task plug-in and write the metrics events.

The checks on incoming events are generated from the event contracts
(closeloop.events): a required field there is a required field here.
"""

from __future__ import annotations

from dataclasses import dataclass

from closeloop.events import FeedbackEvent, PredictionEvent
from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.stages.checks import checked_view as _checked_view
from closeloop.streaming.stages.checks import contract_checks, feedback_checks, prediction_checks
from closeloop.streaming.stages.checks import members as _members
from closeloop.streaming.stages.connectors import kafka_sink as _kafka_sink
from closeloop.streaming.stages.connectors import kafka_source as _kafka_source
from closeloop.streaming.stages.connectors import lake_sink as _lake_sink
from closeloop.streaming.stages.literals import absent as _absent
from closeloop.streaming.stages.literals import interval as _interval
from closeloop.streaming.stages.literals import member as _json
from closeloop.streaming.stages.literals import quote as _quote
from closeloop.streaming.stages.literals import text as _text

__all__ = ["Handoff", "JobSql", "build_sql", "contract_checks"]


@dataclass(frozen=True)
class Handoff:
    """A view the job runs once and hands to SQL again as a table of its own, through a DataStream.

    The planner prunes a view's columns for each query that reads it, so three
    uses of one join made three different joins, and block reuse could not
    merge them. Past a DataStream nothing is pushed down: the join runs once.
    ``rowtime`` is the view's time attribute, carried across with its
    watermarks.
    """

    view: str
    plan: str
    rowtime: str

    def __str__(self) -> str:
        return f"-- {self.view}: the rows of {self.plan}, computed once and read back through a DataStream"


@dataclass(frozen=True)
class JobSql:
    """The steps in the order the job runs them (DDL, views and handoffs), then the inserts."""

    steps: list[str | Handoff]
    inserts: list[str]

    def statements(self) -> list[str]:
        return [*map(str, self.steps), *self.inserts]


def _dead_letter(source_topic: str, field: str, reason: str, rejected: str) -> str:
    """A closeloop.dead-letter.v1 event, built in SQL from a rejected row."""
    return f"""JSON_OBJECT(
        'ts' VALUE DATE_FORMAT(CURRENT_TIMESTAMP, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z'''),
        'schema' VALUE 'closeloop.dead-letter.v1',
        'source_topic' VALUE {_quote(source_topic)},
        'partition' VALUE {rejected}.`partition`,
        'offset' VALUE {rejected}.`offset`,
        'message_key' VALUE {rejected}.message_key,
        'reason' VALUE {reason},
        'field' VALUE {field},
        'original_base64' VALUE TO_BASE64({rejected}.body),
        'original' VALUE {rejected}.body,
        'rejected_by' VALUE 'flink'
        ABSENT ON NULL)"""


def _windows(s: FeedbackJobSettings) -> dict[str, str]:
    """Window kind -> the windowing TVF over {table}, on its event_ts."""
    return {
        "tumbling": f"TUMBLE(TABLE {{table}}, DESCRIPTOR(event_ts), {_interval(s.window_s)})",
        "sliding": (
            f"HOP(TABLE {{table}}, DESCRIPTOR(event_ts), {_interval(s.window_s)}, "
            f"{_interval(s.sliding_window_s)})"
        ),
    }


def build_sql(s: FeedbackJobSettings) -> JobSql:
    topics = s.topics
    group = f"{s.job_name}"
    per_mille = round(s.drift_sample_rate * 1000)
    sampled = "TRUE" if per_mille >= 1000 else f"MOD(ABS(HASH_CODE(prediction_id)), 1000) < {per_mille}"
    steps: list[str | Handoff] = [
        _kafka_source("prediction_source", topics.predictions, s, f"{group}-predictions"),
        _kafka_source("feedback_source", topics.feedback, s, f"{group}-feedback"),
        _kafka_sink("metrics_sink", topics.metrics, s),
        _kafka_sink("dlq_sink", topics.dlq, s),
        _kafka_sink("alerts_sink", topics.alerts, s),
        _lake_sink(s),
        # The alert stage reads the metrics back: it judges exactly what was published.
        _kafka_source("metrics_source", topics.metrics, s, f"{group}-alerts"),
        *_checked_view(
            "prediction_checked",
            "prediction_source",
            prediction_checks(s),
            _members(PredictionEvent, unused=frozenset({"scores"})),
        ),
        *_checked_view(
            "feedback_checked",
            "feedback_source",
            feedback_checks(s),
            _members(FeedbackEvent, unused=frozenset({"model_name", "task"})),
        ),
        f"""
CREATE TEMPORARY VIEW prediction_rows_plan AS
SELECT
    message_key, body, `partition`, `offset`, problem,
    {_text("prediction_id")} AS prediction_id,
    {_text("model_name")} AS model_name,
    {_text("model_version")} AS model_version,
    {_text("task")} AS task,
    -- Always wrapped, so 3 and "3" stay apart: the UDF unwraps it.
    CASE WHEN NOT {_absent("output")} THEN '[' || {_json("output")} || ']' END AS output,
    {_text("error")} AS error,
    TRY_CAST({_json("latency_ms")} AS DOUBLE) AS latency_ms,
    {_json("inputs")} AS inputs,
    event_ts
FROM prediction_checked""",
        f"""
CREATE TEMPORARY VIEW feedback_rows_plan AS
SELECT
    message_key, body, `partition`, `offset`, problem,
    {_text("prediction_id")} AS prediction_id,
    CASE WHEN {_absent("feedback_id")} THEN TO_BASE64(body) ELSE {_text("feedback_id")} END AS feedback_id,
    '[' || {_json("ground_truth")} || ']' AS ground_truth,
    {_text("source")} AS source,
    event_ts
FROM feedback_checked""",
        # Parsed and checked once; the join and every sink read these.
        Handoff(view="prediction_rows", plan="prediction_rows_plan", rowtime="event_ts"),
        Handoff(view="feedback_rows", plan="feedback_rows_plan", rowtime="event_ts"),
        """
CREATE TEMPORARY VIEW prediction_parsed AS
SELECT prediction_id, model_name, model_version, task, output, error, latency_ms, inputs, event_ts
FROM prediction_rows WHERE problem IS NULL""",
        """
CREATE TEMPORARY VIEW feedback_parsed AS
SELECT message_key, body, `partition`, `offset`, prediction_id, feedback_id, ground_truth, source, event_ts
FROM feedback_rows WHERE problem IS NULL""",
        # The gateway delivers at least once: a retried event is an exact copy,
        # so the first of each id is the event. Insert-only on event time.
        """
CREATE TEMPORARY VIEW prediction_unique AS
SELECT prediction_id, model_name, model_version, task, output, error, latency_ms, inputs, event_ts
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY prediction_id ORDER BY event_ts ASC) AS row_num
    FROM prediction_parsed)
WHERE row_num = 1""",
        """
CREATE TEMPORARY VIEW feedback_unique AS
SELECT message_key, body, `partition`, `offset`, prediction_id, feedback_id, ground_truth, source, event_ts
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY feedback_id ORDER BY event_ts ASC) AS row_num
    FROM feedback_parsed)
WHERE row_num = 1""",
        # Feedback joins the prediction it names as of the feedback's time, if
        # that prediction is at most the label delay older. An event-time
        # temporal join: unlike an interval join, it does not hold the watermark
        # back by the label delay, so windows close as soon as their time is
        # past. Unmatched feedback keeps NULLs on the right.
        f"""
CREATE TEMPORARY VIEW feedback_joined_plan AS
SELECT
    f.message_key, f.body, f.`partition`, f.`offset`,
    f.prediction_id, f.ground_truth, f.event_ts AS feedback_ts,
    f.source,
    p.model_name, p.model_version, p.task, p.output, p.error, p.inputs,
    CAST(p.event_ts AS TIMESTAMP(3)) AS prediction_ts
FROM feedback_unique AS f
LEFT JOIN prediction_unique FOR SYSTEM_TIME AS OF f.event_ts AS p
ON f.prediction_id = p.prediction_id
AND f.event_ts <= CAST(p.event_ts AS TIMESTAMP(3)) + {_interval(s.label_delay_s)}""",
        Handoff(view="feedback_joined", plan="feedback_joined_plan", rowtime="feedback_ts"),
        # One label per prediction: the first feedback to arrive, by event time.
        """
CREATE TEMPORARY VIEW labeled AS
SELECT message_key, body, `partition`, `offset`,
       prediction_id, model_name, model_version, task, inputs, output, ground_truth, source,
       prediction_ts, feedback_ts
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY prediction_id ORDER BY feedback_ts ASC) AS row_num
    FROM feedback_joined
    WHERE model_name IS NOT NULL AND error IS NULL)
WHERE row_num = 1""",
        # Drift needs a window's inputs and outputs: a (hash-)sample of them rides
        # along as JSON lines; the metrics UDF bins them at the window's end.
        f"""
CREATE TEMPORARY VIEW activity AS
SELECT model_name, model_version, task, 'prediction' AS kind, latency_ms,
       CASE WHEN error IS NULL THEN 0 ELSE 1 END AS failed,
       CASE WHEN {sampled} THEN inputs END AS inputs,
       CASE WHEN {sampled} AND error IS NULL THEN output END AS output,
       event_ts
FROM prediction_unique
UNION ALL
SELECT model_name, model_version, task, 'feedback', CAST(NULL AS DOUBLE), 0,
       CAST(NULL AS STRING), CAST(NULL AS STRING), feedback_ts
FROM feedback_joined WHERE model_name IS NOT NULL
UNION ALL
SELECT model_name, model_version, task, 'labeled', CAST(NULL AS DOUBLE), 0,
       CAST(NULL AS STRING), CAST(NULL AS STRING), feedback_ts
FROM labeled""",
        # Scored once per labeled example; a label the task cannot score carries a problem.
        """
CREATE TEMPORARY VIEW scored AS
SELECT l.message_key, l.body, l.`partition`, l.`offset`,
       l.prediction_id, l.model_name, l.model_version, l.task, l.inputs, l.output, l.ground_truth,
       l.source, l.prediction_ts, l.feedback_ts,
       s.stat_key, s.stat_value, s.problem, l.feedback_ts AS event_ts
FROM labeled AS l,
LATERAL TABLE(task_statistics(l.task, l.output, l.ground_truth)) AS s(stat_key, stat_value, problem)""",
        """
CREATE TEMPORARY VIEW statistics AS
SELECT model_name, model_version, stat_key, stat_value, event_ts FROM scored WHERE problem IS NULL""",
    ]

    field, reason = "SPLIT_INDEX(problem, CHR(9), 0)", "REPLACE(problem, CHR(9), ': ')"
    unmatched = _quote(
        "prediction_id: no prediction with this id at or up to the label delay "
        f"({s.label_delay_s} s) before the feedback's time"
    )
    # One INSERT per sink (UNION ALL): each INSERT would get a Kafka producer,
    # and its buffers, of its own.
    branches = [
        (topics.predictions, field, reason, "prediction_rows", "problem IS NOT NULL"),
        (topics.feedback, field, reason, "feedback_rows", "problem IS NOT NULL"),
        (topics.feedback, "'prediction_id'", unmatched, "feedback_joined", "model_name IS NULL"),
        (topics.feedback, "'ground_truth'", "problem", "scored", "problem IS NOT NULL"),
    ]
    letters = "\nUNION ALL".join(
        f"""
    SELECT message_key, {_quote(topic)} AS source_topic, {field_of} AS field,
        {_dead_letter(topic, field_of, reason_of, "r")} AS letter
    FROM {view} AS r
    WHERE {where}"""
        for topic, field_of, reason_of, view, where in branches
    )
    # Counted on their way out (Flink metric `dead_letters`, by source topic and field).
    dead_letters = f"""
INSERT INTO dlq_sink
SELECT message_key, count_dead_letter(source_topic, field, letter)
FROM ({letters}
)"""
    windowed = []
    for kind, window in _windows(s).items():
        counts = window.format(table="activity")
        stats = window.format(table="statistics")
        windowed.append(
            f"""
SELECT c.model_name, metrics_event(
    c.model_name, c.model_version, c.task, '{kind}', c.window_start, c.window_end,
    c.predictions, c.errors, c.feedback, c.labeled, c.latency, t.totals, c.inputs, c.outputs)
FROM (
    SELECT window_start, window_end, model_name, model_version, task,
        SUM(CASE WHEN kind = 'prediction' THEN 1 ELSE 0 END) AS predictions,
        SUM(CASE WHEN kind = 'prediction' THEN failed ELSE 0 END) AS errors,
        SUM(CASE WHEN kind = 'feedback' THEN 1 ELSE 0 END) AS feedback,
        SUM(CASE WHEN kind = 'labeled' THEN 1 ELSE 0 END) AS labeled,
        PERCENTILE(latency_ms, ARRAY[0.5, 0.95, 0.99]) AS latency,
        -- Compact JSON never holds a raw newline: one value a line.
        LISTAGG(inputs, '\n') AS inputs,
        LISTAGG(output, '\n') AS outputs
    FROM TABLE({counts})
    GROUP BY window_start, window_end, model_name, model_version, task
) AS c
LEFT JOIN (
    SELECT window_start, window_end, model_name, model_version,
        JSON_OBJECTAGG(KEY stat_key VALUE total) AS totals
    FROM (
        SELECT window_start, window_end, model_name, model_version, stat_key, SUM(stat_value) AS total
        FROM TABLE({stats})
        GROUP BY window_start, window_end, model_name, model_version, stat_key)
    GROUP BY window_start, window_end, model_name, model_version
) AS t
ON c.window_start = t.window_start AND c.window_end = t.window_end
AND c.model_name = t.model_name AND c.model_version = t.model_version"""
        )
    metrics = "\nINSERT INTO metrics_sink" + "\nUNION ALL".join(windowed)
    # Every example that could be scored carries exactly one "n" statistic.
    lake = """
INSERT INTO lake_sink
SELECT prediction_id, model_version, task, inputs,
       SUBSTR(output, 2, CHAR_LENGTH(output) - 2),
       SUBSTR(ground_truth, 2, CHAR_LENGTH(ground_truth) - 2),
       source,
       -- Plain timestamps: a sink takes at most one time attribute.
       CAST(prediction_ts AS TIMESTAMP(3)), CAST(feedback_ts AS TIMESTAMP(3)),
       model_name, DATE_FORMAT(feedback_ts, 'yyyy-MM-dd')
FROM scored
WHERE problem IS NULL AND stat_key = 'n'"""
    inserts = [dead_letters, metrics, lake]
    return JobSql(steps=steps, inserts=inserts)
