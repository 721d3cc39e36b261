"""The pair-join graph's SQL, built from the settings, without running Flink."""

from __future__ import annotations

from closeloop.streaming.pair_join_sql import JVM_FUNCTIONS, build_sql
from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.stages.literals import interval


def job_settings(**overrides: object) -> FeedbackJobSettings:
    return FeedbackJobSettings(_env_file=None, **overrides)  # type: ignore[call-arg]


def test_one_keyed_step_per_prediction_and_no_python_per_record() -> None:
    text = build_sql(job_settings()).render()
    assert text.count("FROM pair_join(") == 1
    # Python runs once per window: metrics_event is the only Python function the SQL calls.
    called = {name for name in ("metrics_event", "task_statistics", "LISTAGG") if f"{name}(" in text}
    assert called == {"metrics_event"}
    for join in ("FOR SYSTEM_TIME AS OF", "ROW_NUMBER()", " JOIN "):
        assert join not in text
    for name, cls in JVM_FUNCTIONS.items():
        assert f"CREATE TEMPORARY FUNCTION {name} AS '{cls}' LANGUAGE JAVA" in text


def test_settings_reach_the_sql() -> None:
    s = job_settings(
        kafka_bootstrap="broker-1:9093",
        topic_prefix="staging",
        window_s=7,
        sliding_window_s=21,
        label_delay_s=3600,
    )
    text = build_sql(s).render()
    assert "'broker-1:9093'" in text
    for topic in ("staging.predictions", "staging.feedback", "staging.metrics", "staging.dlq"):
        assert f"'{topic}'" in text
    assert interval(7) in text and interval(21) in text
    assert "label_delay_ms => CAST(3600000 AS BIGINT)" in text
    assert [i.strip().split()[2] for i in build_sql(s).inserts] == ["dlq_sink", "metrics_sink", "lake_sink"]
