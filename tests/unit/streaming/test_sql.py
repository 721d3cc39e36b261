"""The job's SQL, built from the settings and the event contracts, without running Flink."""

from __future__ import annotations

import os
import re

import pytest
from pydantic import ValidationError

from closeloop.config import PROJECT_ROOT
from closeloop.events import FeedbackEvent, PredictionEvent
from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.sql import JVM_FUNCTIONS, build_sql, contract_rules
from closeloop.streaming.stages.checks import feedback_rules, members, prediction_rules
from closeloop.streaming.stages.front import front_settings
from closeloop.streaming.stages.literals import interval

COMMITTED_SQL = PROJECT_ROOT / "flink" / "feedback_job.sql"


def job_settings(**overrides: object) -> FeedbackJobSettings:
    return FeedbackJobSettings(_env_file=None, **overrides)  # type: ignore[call-arg]


def test_the_sql_reads_the_front_and_runs_no_python_per_record() -> None:
    text = build_sql(job_settings()).render()
    statements = "".join(build_sql(job_settings()).statements())
    # The front (a DataStream) reads the two topics; the SQL starts from its tables.
    assert "FROM paired" in statements and "FROM invalid_events" in statements
    assert "'topic' = 'closeloop.predictions'" not in statements
    assert "'topic' = 'closeloop.feedback'" not in statements
    # No sort buffer: it scans RocksDB per id and time.
    assert "ORDER BY" not in text
    # Python runs once per window: metrics_event is the only Python function the SQL calls.
    called = {name for name in ("metrics_event", "task_statistics", "LISTAGG") if f"{name}(" in text}
    assert called == {"metrics_event"}
    # Events are parsed once, in the front, never in SQL.
    for parse in ("TRY_PARSE_JSON", "JSON_STRING", "JSON_VALUE", "SUBSTR(body"):
        assert parse not in text
    for join in ("FOR SYSTEM_TIME AS OF", "ROW_NUMBER()", " JOIN "):
        assert join not in text
    for name, cls in JVM_FUNCTIONS.items():
        assert f"CREATE TEMPORARY FUNCTION {name} AS '{cls}' LANGUAGE JAVA" in text


def test_the_committed_sql_is_what_the_job_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # As `python flink/feedback_job.py --print-sql` prints it with the default
    # settings: none from this environment.
    for name in [n for n in os.environ if n.startswith("CLOSELOOP_")]:
        monkeypatch.delenv(name)
    assert COMMITTED_SQL.read_text() == build_sql(job_settings()).render(), (
        "flink/feedback_job.sql is stale: run `make flink/feedback_job.sql` and commit it"
    )


def test_every_required_contract_field_is_checked() -> None:
    for event, nullable in ((PredictionEvent, {"output"}), (FeedbackEvent, set())):
        fields = {rule.field for rule in contract_rules(event, nullable=frozenset(nullable))}
        required = {f.alias or n for n, f in event.model_fields.items() if f.is_required()}
        assert required - nullable <= fields, event.__name__
        assert {"(event)", "schema", "ts"} <= fields


def test_checks_come_in_pydantic_order_with_its_words() -> None:
    rules = contract_rules(PredictionEvent)
    assert [rule.field for rule in rules[:4]] == ["(event)", "schema", "schema", "prediction_id"]
    assert rules[3].reason == "Field required"


def test_settings_reach_the_sql() -> None:
    s = job_settings(
        kafka_bootstrap="broker-1:9093",
        topic_prefix="staging",
        window_s=7,
        sliding_window_s=21,
        out_of_orderness_s=2,
        label_delay_s=3600,
    )
    text = build_sql(s).render()
    assert "'broker-1:9093'" in text
    for topic in ("staging.feedback", "staging.metrics", "staging.dlq", "staging.alerts"):
        assert f"'{topic}'" in text
    assert interval(7) in text and interval(21) in text
    assert '"label_delay_ms": 3600000' in text
    front = front_settings(s)
    assert front["bootstrap"] == "broker-1:9093"
    assert front["out_of_orderness_ms"] == 2000
    topics = (front["predictions"]["topic"], front["feedback"]["topic"])  # type: ignore[index]
    assert topics == ("staging.predictions", "staging.feedback")
    assert [i.strip().split()[2] for i in build_sql(s).inserts] == ["dlq_sink", "metrics_sink", "lake_sink"]


@pytest.mark.parametrize(
    ("seconds", "literal"), [(5, "0 00:00:05"), (86_400, "1 00:00:00"), (3725, "0 01:02:05")]
)
def test_intervals_go_past_99_seconds(seconds: int, literal: str) -> None:
    assert interval(seconds) == f"INTERVAL '{literal}' DAY TO SECOND"


def test_the_sliding_window_must_be_a_larger_multiple() -> None:
    with pytest.raises(ValidationError, match="must be a larger multiple"):
        job_settings(window_s=60, sliding_window_s=90)
    with pytest.raises(ValidationError, match="must be a larger multiple"):
        job_settings(window_s=60, sliding_window_s=60)
    assert job_settings(window_s=5, sliding_window_s=30).sliding_window_s == 30


def test_sources_resume_from_committed_offsets_unless_told_a_start_time() -> None:
    resumed = build_sql(job_settings()).render()
    assert resumed.count("'scan.startup.mode' = 'group-offsets'") == 1  # metrics_source
    assert "timestamp-millis" not in resumed
    assert front_settings(job_settings())["start_from_ms"] is None
    s = job_settings(start_from_ms=1_790_000_000_000)
    started = build_sql(s).render()
    assert started.count("'scan.startup.mode' = 'timestamp'") == 1
    assert started.count("'scan.startup.timestamp-millis' = '1790000000000'") == 1
    assert "group-offsets" not in started
    assert front_settings(s)["start_from_ms"] == 1_790_000_000_000


def test_present_members_are_checked_for_their_json_type_length_and_pattern() -> None:
    checks = {(rule.field, rule.reason) for rule in contract_rules(PredictionEvent)}
    for field in ("prediction_id", "model_name", "model_version", "task", "error"):
        assert (field, "Input should be a valid string") in checks
    assert ("inputs", "Input should be a valid dictionary") in checks
    assert ("prediction_id", "String should have at most 128 characters") in checks
    assert ("model_name", r"String should match pattern '^[\w.-]+$'") in checks
    assert ("source", "String should have at most 64 characters") in {
        (rule.field, rule.reason) for rule in contract_rules(FeedbackEvent)
    }


def test_the_checks_read_only_members_the_job_parses_out() -> None:
    for event, rules in ((PredictionEvent, prediction_rules()), (FeedbackEvent, feedback_rules())):
        parsed = set(members(event))
        read = {m for rule in rules for m in (rule.member, rule.other) if m is not None}
        assert read <= parsed, f"{event.__name__} rules read {read - parsed}, which are not parsed out"


def test_the_front_parses_out_every_member_it_reads() -> None:
    # EventDeserializer finds the members it puts in its rows by name among those it is
    # told to parse: one left out of `members` would read as absent, without a word.
    source = PROJECT_ROOT / "flink/functions/src/main/java/io/closeloop/flink/EventDeserializer.java"
    java = source.read_text()
    read = set(re.findall(r'^\s+[A-Z_]+\("(\w+)"\)[,;]', java, re.M))
    assert "prediction_id" in read and "ground_truth" in read
    front = front_settings(job_settings())
    parsed = set(front["predictions"]["members"]) | set(front["feedback"]["members"])  # type: ignore[index]
    assert read <= parsed, f"EventDeserializer reads {read - parsed}, which are not parsed out"
