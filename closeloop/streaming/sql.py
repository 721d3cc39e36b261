"""The feedback job's Flink SQL, stage by stage, after its front.

    the front, a DataStream (front): both topics parsed and checked once,
        one keyed step per prediction id → tables paired, invalid_events
    → sinks (connectors) → windows (windows)
    → dead letters (dead_letters), the lake (lake)

All per-record work runs in the JVM: the front, SQL, and the functions of
flink/functions (``utf8``, ``event_time``, ``drift_bins``, ``sum_map``,
``latency_sketch``, ``merge_latency_sketches``, ``latency_quantiles``,
``count_dead_letter``). Python runs once per window (``metrics_event``) and
once per metrics event (the alert rules). ``python flink/feedback_job.py
--print-sql`` prints the front's settings and the statements;
flink/feedback_job.sql is that output, committed.
"""

from __future__ import annotations

from dataclasses import dataclass

from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.stages.checks import contract_rules
from closeloop.streaming.stages.connectors import kafka_sink, kafka_source, lake_sink
from closeloop.streaming.stages.dead_letters import dead_letters_insert
from closeloop.streaming.stages.front import front_settings_json
from closeloop.streaming.stages.lake import lake_insert
from closeloop.streaming.stages.windows import facts_view, metrics_insert, tumbling_view

__all__ = ["JVM_FUNCTIONS", "JobSql", "build_sql", "contract_rules"]

#: SQL name -> class, in flink/functions (the jar `make setup` builds).
JVM_FUNCTIONS = {
    "utf8": "io.closeloop.flink.Utf8Function",
    "event_time": "io.closeloop.flink.EventTimeFunction",
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
--
-- It reads the tables `paired` and `invalid_events`, which the job's front makes
-- (io.closeloop.flink.FeedbackFront, closeloop/streaming/stages/front.py) with these settings:
--
"""


def build_sql(s: FeedbackJobSettings) -> JobSql:
    topics = s.topics
    steps = [
        *(
            f"CREATE TEMPORARY FUNCTION {name} AS '{cls}' LANGUAGE JAVA"
            for name, cls in JVM_FUNCTIONS.items()
        ),
        kafka_sink("metrics_sink", topics.metrics, s),
        kafka_sink("dlq_sink", topics.dlq, s),
        kafka_sink("alerts_sink", topics.alerts, s),
        lake_sink(s),
        # The alert stage reads the metrics back: it judges exactly what was published.
        kafka_source("metrics_source", topics.metrics, s, f"{s.job_name}-alerts"),
        facts_view(s),
        tumbling_view(s),
    ]
    inserts = [dead_letters_insert(s, topics), metrics_insert(s), lake_insert()]
    front = "".join(f"-- {line}\n" for line in front_settings_json(s).splitlines())
    return JobSql(steps=steps, inserts=inserts, header=_HEADER + front + "\n")
