"""The job's SQL, built from the settings and the event contracts, without running Flink."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from closeloop.events import FeedbackEvent, PredictionEvent
from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.sql import _interval, build_sql, contract_checks


def job_settings(**overrides: object) -> FeedbackJobSettings:
    return FeedbackJobSettings(_env_file=None, **overrides)  # type: ignore[call-arg]


def test_every_required_contract_field_is_checked() -> None:
    for event, nullable in ((PredictionEvent, {"output"}), (FeedbackEvent, set())):
        fields = {field for _, field, _ in contract_checks(event, nullable=frozenset(nullable))}
        required = {f.alias or n for n, f in event.model_fields.items() if f.is_required()}
        assert required - nullable <= fields, event.__name__
        assert {"(event)", "schema", "ts"} <= fields


def test_checks_come_in_pydantic_order_with_its_words() -> None:
    checks = contract_checks(PredictionEvent)
    assert [field for _, field, _ in checks[:4]] == ["(event)", "schema", "schema", "prediction_id"]
    assert checks[3][2] == "Field required"


def test_no_address_topic_or_window_is_a_literal_of_the_code() -> None:
    s = job_settings(
        kafka_bootstrap="broker-1:9093",
        topic_prefix="staging",
        window_s=7,
        sliding_window_s=21,
        out_of_orderness_s=2,
        label_delay_s=3600,
    )
    text = "\n".join(build_sql(s).statements())
    assert "'broker-1:9093'" in text and "127.0.0.1" not in text
    for topic in ("staging.predictions", "staging.feedback", "staging.metrics", "staging.dlq"):
        assert f"'{topic}'" in text
    assert "closeloop." not in text.replace("closeloop.dead-letter.v1", "").replace(
        "closeloop.prediction.v1", ""
    ).replace("closeloop.feedback.v1", "")
    assert _interval(7) in text and _interval(21) in text and _interval(3600) in text


def test_one_insert_per_sink() -> None:
    inserts = build_sql(job_settings()).inserts
    assert [i.strip().split()[2] for i in inserts] == ["dlq_sink", "metrics_sink", "lake_sink"]


@pytest.mark.parametrize(
    ("seconds", "literal"), [(5, "0 00:00:05"), (86_400, "1 00:00:00"), (3725, "0 01:02:05")]
)
def test_intervals_go_past_99_seconds(seconds: int, literal: str) -> None:
    assert _interval(seconds) == f"INTERVAL '{literal}' DAY TO SECOND"


def test_the_sliding_window_must_be_a_larger_multiple() -> None:
    with pytest.raises(ValidationError, match="must be a larger multiple"):
        job_settings(window_s=60, sliding_window_s=90)
    with pytest.raises(ValidationError, match="must be a larger multiple"):
        job_settings(window_s=60, sliding_window_s=60)
    assert job_settings(window_s=5, sliding_window_s=30).sliding_window_s == 30


def test_sources_resume_from_committed_offsets_unless_told_a_start_time() -> None:
    resumed = "\n".join(build_sql(job_settings()).statements())
    assert resumed.count("'scan.startup.mode' = 'group-offsets'") == 3
    assert "timestamp-millis" not in resumed
    started = "\n".join(build_sql(job_settings(start_from_ms=1_790_000_000_000)).statements())
    assert started.count("'scan.startup.mode' = 'timestamp'") == 3
    assert started.count("'scan.startup.timestamp-millis' = '1790000000000'") == 3
    assert "group-offsets" not in started
