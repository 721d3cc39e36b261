"""What the streaming tests share: the job's settings for the scenario, and the window comparison."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import psutil
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from closeloop.config import Settings, Topics
from closeloop.events import AlertEvent, Event, MetricsEvent
from closeloop.lake import read_labeled
from closeloop.monitoring.alerts import RuleState, evaluate, load_rules
from closeloop.monitoring.latency import RELATIVE_ACCURACY
from closeloop.monitoring.profiles import save_profile
from closeloop.s3 import s3_client
from closeloop.stack.manager import LocalStack
from closeloop.stack.process import ProcessRecord, alive, port_owner
from tests.faults import FaultRecord, Stopwatch, report
from tests.integration.kafka_reading import read_events
from tests.integration.streaming import scenario
from tests.waiting import NotYet, eventually

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
    """Counts exactly; rates, latency sketch quantiles, quality and drift to 1e-9."""
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
        assert got == pytest.approx(want["latency_exact"], rel=RELATIVE_ACCURACY * (1 + 1e-9)), where
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
    """The alerts the rules fire, replayed over each model's own tumbling windows in order; sorted."""
    (rule,) = load_rules(rules)
    ids = []
    for model in sorted({e.model_name for e in events}):
        state = RuleState()
        windows = sorted(
            (e for e in events if e.model_name == model and e.window.kind == "tumbling"),
            key=lambda e: e.window.start,
        )
        for event in windows:
            state, alert = evaluate(rule, state, event)
            ids += [alert.alert_id] if alert else []
    return sorted(ids)


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


_GONE = {"FAILED", "CANCELED", "FINISHED", "SUSPENDED"}


def flink_rest(settings: Settings, path: str) -> dict:
    """A GET of the local Flink cluster's REST API, e.g. ``/jobs/<id>``."""
    url = f"http://{settings.host}:{settings.flink_rest_port}{path}"
    return httpx.get(url, timeout=10).raise_for_status().json()


def jobs_named(settings: Settings, name: str) -> dict[str, str]:
    """Job id -> state of every job of this name the Flink cluster knows, finished ones included."""
    jobs = flink_rest(settings, "/jobs/overview")["jobs"]
    return {job["jid"]: job["state"] for job in jobs if job["name"] == name}


def failures(settings: Settings, job_id: str) -> list[str]:
    """The first lines of each failure of the job, newest first, from Flink's exception history."""
    history = flink_rest(settings, f"/jobs/{job_id}/exceptions").get("exceptionHistory") or {}
    return ["\n".join(e.get("stacktrace", "").strip().splitlines()[:3]) for e in history.get("entries", [])]


def root_exception(settings: Settings, job_id: str) -> str:
    """The first lines of the job's latest failure, or "" if it never failed."""
    return next(iter(failures(settings, job_id)), "")


def running_by_itself(settings: Settings, job_name: str, job_id: str) -> None:
    """Wait until job ``job_id`` runs (again, if it failed); fail at once if it died or was resubmitted."""

    @eventually(timeout=300, interval=2)
    def running() -> None:
        jobs = jobs_named(settings, job_name)
        assert set(jobs) == {job_id}, f"the job was submitted again: {jobs}"
        state = jobs[job_id]
        if state in _GONE:
            raise AssertionError(
                f"job {job_id} is {state} and nothing resubmits it: {root_exception(settings, job_id)}"
            )
        if state != "RUNNING":
            raise NotYet(f"job {job_id} {state}")

    running()


# What a broker answers until it has loaded the group's coordinator (just started, or just moved).
_COORDINATOR_NOT_READY = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
}


def committed(settings: Settings, group: str, topic: str) -> int:
    """The offset ``group`` has committed on ``topic`` (one partition); the job commits on checkpoints.

    Raises NotYet while the broker's group coordinator is not ready.
    """
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group})
    try:
        (partition,) = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return max(partition.offset, 0)
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        if error.code() in _COORDINATOR_NOT_READY:
            raise NotYet(f"offsets of {group} on {topic}: {error.str()}") from exc
        raise
    finally:
        consumer.close()


def checkpointed(
    settings: Settings, topics: Topics, job_name: str, sent: tuple[int, int]
) -> list[MetricsEvent]:
    """Once a checkpoint holds the ``sent`` predictions and feedback and a window is out: the windows out."""

    # The sources commit their offsets when a checkpoint completes; the first
    # windows close with the watermark, not a label delay later.
    @eventually(timeout=240, interval=1)
    def wait() -> list[MetricsEvent]:
        done = (
            committed(settings, f"{job_name}-predictions", topics.predictions),
            committed(settings, f"{job_name}-feedback", topics.feedback),
        )
        if done[0] < sent[0] or done[1] < sent[1]:
            raise NotYet(f"offsets {done} of {sent} checkpointed")
        if not (
            published := [e for e in collect(settings, topics.metrics, 1) if isinstance(e, MetricsEvent)]
        ):
            raise NotYet("no window published yet")
        return published

    return wait()


def first_half_checkpointed(
    settings: Settings,
    topics: Topics,
    send: Callable[[str, list[tuple[str, bytes]]], None],
    run_job: Callable[..., ProcessRecord],
    tmp_path: Path,
    job_name: str,
    *,
    kafka: Settings | None = None,
) -> tuple[scenario.Scenario, dict[str, object], ProcessRecord]:
    """Half the scenario sent, the job submitted on it, and a checkpoint holding that half, windows out.

    ``kafka``: the settings to read the job's topics with, where they live on a broker of their own.
    Returns the scenario, the job's settings and its submission.
    """
    s = scenario.build()
    job = {**job_for_scenario(settings, topics, tmp_path), "checkpoint_interval_s": 1}
    half_p, half_f = len(s.prediction_messages) // 2, len(s.feedback_messages) // 2
    send(topics.predictions, s.prediction_messages[:half_p])
    send(topics.feedback, s.feedback_messages[:half_f])
    record = run_job(**job, job_name=job_name)
    windows = checkpointed(kafka or settings, topics, job_name, (half_p, half_f))
    first_half = {key for key, _ in s.prediction_messages[:half_p]}
    sent_until = max(p.ts for p in s.predictions if p.prediction_id in first_half)
    assert all(e.window.end <= sent_until for e in windows), "a window closed before its time had passed"
    return s, job, record


def send_second_half(
    send: Callable[[str, list[tuple[str, bytes]]], None], topics: Topics, s: scenario.Scenario
) -> None:
    """The rest of what first_half_checkpointed sent the first half of."""
    send(topics.predictions, s.prediction_messages[len(s.prediction_messages) // 2 :])
    send(topics.feedback, s.feedback_messages[len(s.feedback_messages) // 2 :])


def assert_counted_once(
    settings: Settings,
    topics: Topics,
    job: dict[str, object],
    s: scenario.Scenario,
    *,
    fault: str | None = None,
    recovery: Stopwatch | None = None,
) -> None:
    """Every window as an uninterrupted run has it, every alert, and each labeled example once in the lake.

    Metrics and alerts are written at least once with stable keys, so a window
    may appear again after a failure: its latest value is the one that counts.
    ``fault`` names the scenario for bench/faults.py, ``recovery`` was started
    when the faulty part came back.
    """
    expected = scenario.expected_metrics(s)

    @eventually(timeout=300, interval=2)
    def all_windows() -> list[MetricsEvent]:
        events = [e for e in collect(settings, topics.metrics, 1000) if isinstance(e, MetricsEvent)]
        if missing := set(expected) - {window_key(e) for e in events}:
            raise NotYet(f"{len(missing)} of {len(expected)} windows missing")
        return events

    latest = {window_key(e): e for e in all_windows() if e.model_name != scenario.FLUSH}
    assert set(latest) == set(expected)
    for key, event in latest.items():
        assert_window_matches(event, expected[key])

    wanted_alerts = expected_alert_ids(Path(str(job["alert_rules"])), list(latest.values()))

    @eventually(timeout=60, interval=2)
    def alerts() -> set[str]:
        found = {e.alert_id for e in collect(settings, topics.alerts, 50) if isinstance(e, AlertEvent)}
        if len(found) < len(wanted_alerts):
            raise NotYet(f"{len(found)} of {len(wanted_alerts)} alerts")
        return found

    assert alerts() == set(wanted_alerts)
    wanted = scenario.lake_examples(s)

    @eventually(timeout=60, interval=2)
    def in_the_lake() -> list[str]:
        rows = read_labeled(settings, prefix=str(job["lake_prefix"])).to_pylist()
        ids = [r["prediction_id"] for r in rows if r["model_name"] != scenario.FLUSH]
        if len(set(ids)) < len(wanted):
            raise NotYet(f"{len(set(ids))} of {len(wanted)} labeled examples committed")
        return ids

    ids = in_the_lake()
    if fault is not None:
        report(
            FaultRecord(
                scenario=fault,
                unit="labeled examples",
                sent=len(wanted),
                acknowledged=len(wanted),
                found=len(set(ids) & set(wanted)),
                lost=len(set(wanted) - set(ids)),
                counted_twice=len(ids) - len(set(ids)),
                recovery_s=recovery.seconds() if recovery else None,
            )
        )
    assert sorted(ids) == sorted(wanted), "the lake must hold each labeled example once"


def kill_broker(stack: LocalStack) -> None:
    """`kill -9` the stack's Kafka broker and wait until its processes are gone and its ports free."""
    kill_service(stack, "kafka", with_children=False)


def kill_service(stack: LocalStack, name: str, *, with_children: bool = True) -> None:
    """`kill -9` a service's processes (and their children), and wait until all are gone
    and all its ports are free, so that `up` can start it again at once."""
    record = ProcessRecord.load(stack.layout.run, name)
    assert record is not None and alive(record)
    daemons = [psutil.Process(pid) for pid in alive(record)]
    children = [c for d in daemons for c in d.children(recursive=True)] if with_children else []
    for proc in [*daemons, *children]:
        proc.kill()
    host, ports = stack.settings.host, stack.services[name].ports

    @eventually(timeout=60, interval=0.5)
    def dead() -> None:
        if pids := alive(record):
            raise NotYet(f"{name} processes {pids} still alive")
        if held := [f"{port} by {owner}" for port in ports if (owner := port_owner(host, port))]:
            raise NotYet(f"ports still held: {', '.join(held)}")

    dead()
