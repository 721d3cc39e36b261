"""The feedback job's Flink SQL, stage by stage.

    sources and sinks, ts read off each event (connectors)
    → parse and check each event once (checks)
    → one keyed step per prediction id (pair_join) → windows (windows)
    → dead letters (dead_letters), the lake (lake)

All per-record work runs in the JVM: SQL, and the functions of flink/functions
(``utf8``, ``event_time``, ``ts_text``, ``ts_parsed``, ``event_members``,
``pair_join``, ``drift_bins``, ``sum_map``, ``latency_sketch``,
``merge_latency_sketches``, ``latency_quantiles``, ``count_dead_letter``). Python
runs once per window (``metrics_event``) and once per metrics event (the
alert rules). ``python flink/feedback_job.py --print-sql`` prints the
statements; flink/feedback_job.sql is that output, committed.
"""

from __future__ import annotations

from dataclasses import dataclass

from closeloop.events import FeedbackEvent, PredictionEvent
from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.stages.checks import (
    checked_view,
    contract_rules,
    feedback_rules,
    members,
    prediction_rules,
    timing_checks,
)
from closeloop.streaming.stages.connectors import kafka_sink, kafka_source, lake_sink
from closeloop.streaming.stages.dead_letters import dead_letters_insert
from closeloop.streaming.stages.lake import lake_insert
from closeloop.streaming.stages.pair_join import events_view, paired_view
from closeloop.streaming.stages.windows import facts_view, metrics_insert, tumbling_view

__all__ = ["JVM_FUNCTIONS", "JobSql", "build_sql", "contract_rules"]

#: SQL name -> class, in flink/functions (the jar `make setup` builds).
JVM_FUNCTIONS = {
    "utf8": "io.closeloop.flink.Utf8Function",
    "event_time": "io.closeloop.flink.EventTimeFunction",
    "ts_text": "io.closeloop.flink.TsTextFunction",
    "ts_parsed": "io.closeloop.flink.TsParsedFunction",
    "event_members": "io.closeloop.flink.EventMembersFunction",
    "pair_join": "io.closeloop.flink.PairJoin",
    "drift_bins": "io.closeloop.flink.DriftBinsFunction",
    "sum_map": "io.closeloop.flink.SumMapFunction",
    "latency_sketch": "io.closeloop.flink.LatencySketchFunction",
    "merge_latency_sketches": "io.closeloop.flink.MergeLatencySketchesFunction",
    "latency_quantiles": "io.closeloop.flink.LatencyQuantilesFunction",
    "count_dead_letter": "io.closeloop.flink.CountDeadLetterFunction",
}


@dataclass(frozen=True)
class JobSql:
    """The DDL and views in the order the job runs them, then the inserts (one statement set)."""

    steps: list[str]
    inserts: list[str]
    #: What `render` writes above the statements.
    header: str = ""

    def statements(self) -> list[str]:
        return [*self.steps, *self.inserts]

    def render(self) -> str:
        """The statements as one script, as `--print-sql` prints them."""
        return self.header + ";\n".join(statement.strip("\n") for statement in self.statements()) + ";\n"


_HEADER = """-- The feedback job's SQL with the default settings, as
-- `python flink/feedback_job.py --print-sql` prints it: `make flink/feedback_job.sql`.

"""


def build_sql(s: FeedbackJobSettings) -> JobSql:
    topics = s.topics
    steps = [
        *(
            f"CREATE TEMPORARY FUNCTION {name} AS '{cls}' LANGUAGE JAVA"
            for name, cls in JVM_FUNCTIONS.items()
        ),
        kafka_source("prediction_source", topics.predictions, s, f"{s.job_name}-predictions"),
        kafka_source("feedback_source", topics.feedback, s, f"{s.job_name}-feedback"),
        kafka_sink("metrics_sink", topics.metrics, s),
        kafka_sink("dlq_sink", topics.dlq, s),
        kafka_sink("alerts_sink", topics.alerts, s),
        lake_sink(s),
        # The alert stage reads the metrics back: it judges exactly what was published.
        kafka_source("metrics_source", topics.metrics, s, f"{s.job_name}-alerts"),
        *checked_view(
            "prediction_checked",
            "prediction_source",
            prediction_rules(),
            timing_checks(s),
            members(PredictionEvent),
        ),
        *checked_view(
            "feedback_checked",
            "feedback_source",
            feedback_rules(),
            timing_checks(s),
            members(FeedbackEvent),
        ),
        events_view(topics),
        paired_view(s),
        facts_view(s),
        tumbling_view(s),
    ]
    inserts = [dead_letters_insert(s, topics), metrics_insert(s), lake_insert()]
    return JobSql(steps=steps, inserts=inserts, header=_HEADER)
