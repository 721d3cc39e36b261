"""The job's front: both topics read, each event parsed and checked once, one keyed step per prediction.

It is a DataStream in the JVM, io.closeloop.flink.FeedbackFront (flink/functions),
which ``flink/feedback_job.py`` builds over py4j from the settings here, and
whose two streams the SQL after it reads as tables:

``paired``
    the keyed step's rows (io.closeloop.flink.PairJoin), with their event time
    as ``rowtime``: it deduplicates both streams, joins feedback to its
    prediction within the label delay, picks and scores the label, and turns
    unmatched feedback into dead letters, with point lookups in one small state
    value per prediction id. The first feedback to arrive is the label at once;
    one of an earlier time that arrives after it takes its place, and a
    ``retraction`` row at the old label's time takes that back in its windows
    (``labeled`` -1, statistics negated), so "the first feedback is the label"
    (by time, then offset) means one thing in a run and in a replay.
``invalid_events``
    events that broke their contract or came late, with the reason, for the
    dead-letter topic.

As SQL the front cost more than twice its DataStream twin: two sources, every
member of every event decoded as a column, and the keyed step's input and
state converted between rows and a process table function
(bench/flink_ceiling.py measures the difference).
"""

from __future__ import annotations

import json

from closeloop.events import FeedbackEvent, PredictionEvent
from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.stages.checks import (
    feedback_rules,
    future_problem,
    late_problem,
    members,
    prediction_rules,
    rules_json,
)

__all__ = ["PAIRED", "front_settings", "front_settings_json"]

#: The table of the keyed step's rows.
PAIRED = "paired"


def front_settings(s: FeedbackJobSettings) -> dict[str, object]:
    """What io.closeloop.flink.FeedbackFront.Settings reads; its parallelism is the job's."""
    topics = s.topics

    def side(topic: str, group: str, event: type, rules: list) -> dict[str, object]:
        return {
            "topic": topic,
            "group": group,
            "members": members(event),
            "rules": json.loads(rules_json(rules)),
        }

    return {
        "bootstrap": s.kafka_bootstrap,
        "label_delay_ms": s.label_delay_s * 1000,
        "state_ttl_ms": (s.label_delay_s + s.state_ttl_margin_s) * 1000,
        "max_clock_skew_ms": s.max_clock_skew_s * 1000,
        "out_of_orderness_ms": s.out_of_orderness_s * 1000,
        "idle_timeout_ms": s.idle_timeout_s * 1000,
        "start_from_ms": s.start_from_ms,
        "future_problem": future_problem(s),
        "late_problem": late_problem(s),
        "predictions": side(
            topics.predictions, f"{s.job_name}-predictions", PredictionEvent, prediction_rules()
        ),
        "feedback": side(topics.feedback, f"{s.job_name}-feedback", FeedbackEvent, feedback_rules()),
    }


def front_settings_json(s: FeedbackJobSettings) -> str:
    return json.dumps(front_settings(s), ensure_ascii=False, indent=1)
