"""What the streaming tests share: the job's settings for the scenario, and the window comparison."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from closeloop.config import Settings, Topics
from closeloop.events import Event, MetricsEvent
from closeloop.monitoring.alerts import RuleState, evaluate, load_rules
from closeloop.monitoring.profiles import save_profile
from closeloop.s3 import s3_client
from tests.integration.kafka_reading import read_events
from tests.integration.streaming import scenario

# The classifier's inputs drift after 30 s; ten-second windows hold about a dozen predictions.
RULES = """
rules:
  - {name: x0-drift, kind: drift, metric: drift.x0.js, comparison: ">", threshold: 0.6,
     min_samples: 5, consecutive: 2, cooldown_s: 15}
"""

SETTINGS = {
    "window_s": scenario.WINDOW_S,
    "sliding_window_s": scenario.SLIDING_S,
    "out_of_orderness_s": scenario.OUT_OF_ORDERNESS_S,
    "label_delay_s": scenario.LABEL_DELAY_S,
    "idle_timeout_s": 0,
}

WindowKey = tuple[str, str, str, pd.Timestamp]


def window_key(e: MetricsEvent) -> WindowKey:
    return (e.model_name, e.model_version, e.window.kind, pd.Timestamp(e.window.start))


def assert_window_matches(event: MetricsEvent, want: dict) -> None:
    """Counts exactly, rates, quantiles, quality and drift to 1e-9."""
    where = f"{window_key(event)}"
    assert (event.predictions, event.errors, event.feedback, event.labeled) == (
        want["predictions"],
        want["errors"],
        want["feedback"],
        want["labeled"],
    ), where
    assert event.label_coverage == pytest.approx(want["label_coverage"], abs=1e-9), where
    assert event.error_rate == pytest.approx(want["error_rate"], abs=1e-9), where
    if want["latency"] is None:
        assert event.latency_ms is None, where
    else:
        got = [event.latency_ms.p50, event.latency_ms.p95, event.latency_ms.p99]
        assert got == pytest.approx(want["latency"], abs=1e-9), where
    assert event.quality.keys() == want["quality"].keys(), where
    for metric, value in want["quality"].items():
        assert event.quality[metric] == pytest.approx(value, abs=1e-9), f"{where} {metric}"
    assert event.drift.keys() == want["drift"].keys(), where
    for column, measures in want["drift"].items():
        got = event.drift[column]
        assert (got.psi, got.js) == pytest.approx((measures["psi"], measures["js"]), abs=1e-9), (
            f"{where} {column}"
        )


def collect(settings: Settings, topic: str, keys: int) -> list[Event]:
    """Every event on ``topic`` (one partition) so far, reading until ``keys`` distinct keys or 5 s."""
    return [e for _, e in read_events(settings.kafka_bootstrap, topic, {0: 0}, expected=keys, timeout=5)]


def job_for_scenario(settings: Settings, topics: Topics, tmp_path: Path) -> dict[str, object]:
    """The job settings for the scenario on ``topics``: its profiles saved, its rules written."""
    prefix = topics.predictions.rsplit(".", 1)[0]
    for profile in scenario.profiles():
        save_profile(s3_client(settings), settings.lake_bucket, f"{prefix}/profiles", profile)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    return {
        **SETTINGS,
        "profiles_prefix": f"{prefix}/profiles",
        "lake_prefix": f"{prefix}/feedback",
        "alert_rules": rules,
    }


def expected_alert_ids(rules: Path, events: list[MetricsEvent]) -> list[str]:
    """The alerts the rules fire, replayed over the job's own classifier tumbling windows in order."""
    (rule,) = load_rules(rules)
    state, ids = RuleState(), []
    clf = sorted(
        (e for e in events if e.model_name == "clf" and e.window.kind == "tumbling"),
        key=lambda e: e.window.start,
    )
    for event in clf:
        state, alert = evaluate(rule, state, event)
        ids += [alert.alert_id] if alert else []
    return ids


def as_label(value: str) -> str:
    """A label value as Flink's Prometheus reporter writes it: every other character becomes "_"."""
    return re.sub(r"[^A-Za-z0-9_]", "_", value)


def dead_letter_counts(settings: Settings, *, job_name: str) -> Counter[tuple[str, str]]:
    """(source topic suffix, field as a label) -> the job's `dead_letters`, from Flink's reporter."""
    low, high = (int(port) for port in settings.flink_metrics_ports.split("-"))
    job = as_label(job_name)
    counts: Counter[tuple[str, str]] = Counter()
    for port in range(low, high + 1):
        text = httpx.get(f"http://{settings.host}:{port}/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if sample.name.endswith("dead_letters") and labels.get("job_name") == job:
                    topic = labels["source_topic"].rsplit("_", 1)[1]
                    counts[topic, labels["field"]] += int(sample.value)
    return counts
