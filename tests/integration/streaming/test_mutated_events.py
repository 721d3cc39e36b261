"""The feedback job under a stream of mutated events: it keeps running and dead-letters each bad one.

Valid predictions and their feedback are interleaved with copies of them
broken in the ways a producer breaks events: cut short, binary noise, not an
object, a member dropped or of the wrong JSON type, an id or a name outside
its pattern, a negative latency, an unknown task, a bad time, an output of
null without an error, an empty body. Each mutation is one the contract's own
decoder (closeloop.events.decode) refuses. The job must keep running without
a restart, put every mutated event on the dead-letter topic (found by its
offset) with a field and a reason, and count the valid events exactly once.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from closeloop.config import Settings, Topics
from closeloop.events import (
    DeadLetterEvent,
    FeedbackEvent,
    InvalidEventError,
    MetricsEvent,
    PredictionEvent,
    decode,
    encode,
)
from tests.faults import FaultRecord, report
from tests.integration.streaming import scenario
from tests.integration.streaming.checks import collect, failures, job_for_scenario, jobs_named
from tests.waiting import NotYet, eventually

VALID_PAIRS = 40
MUTANTS_PER_TOPIC = 60
Message = tuple[str, bytes]


def _wrong_type(rng: random.Random, value: Any) -> Any:
    choices: list[Any] = [7, 2.5, True, [value], {"v": value}]
    if not isinstance(value, str):
        choices.append("text")
    return rng.choice([c for c in choices if type(c) is not type(value)])


def mutate(rng: random.Random, event: dict[str, Any], n: int) -> bytes:
    """One broken copy of ``event`` (its JSON members), renamed ``bad-n`` where an id survives."""
    d = dict(event, prediction_id=f"bad-{n}")
    if "feedback_id" in d:
        d["feedback_id"] = f"bad-{n}"
    kind = rng.choice(
        ["cut", "noise", "empty", "not_object", "drop", "retype", "schema", "id", "ts", "kind_specific"]
    )
    if kind == "cut":
        raw = json.dumps(d).encode()
        return raw[: rng.randrange(1, len(raw) - 1)]
    if kind == "noise":
        return rng.randbytes(rng.randrange(1, 80))
    if kind == "empty":
        return b""
    if kind == "not_object":
        return json.dumps(rng.choice([[d], 42, "prediction", None])).encode()
    if kind == "drop":
        del d[rng.choice([k for k in ("schema", "prediction_id", "model_name", "model_version", "task",
                                      "inputs", "latency_ms", "ground_truth") if k in d])]  # fmt: skip
    elif kind == "retype":
        key = rng.choice([k for k in ("prediction_id", "model_name", "model_version", "task", "inputs",
                                      "feedback_id", "source", "error") if k in d])  # fmt: skip
        d[key] = _wrong_type(rng, d[key])
    elif kind == "schema":
        d["schema"] = rng.choice(["closeloop.alert.v1", "closeloop.prediction.v0", ""])
    elif kind == "id":
        d["prediction_id"] = rng.choice(["has space", "", "x" * 129, "tab\there", "ünïcode ok?"])
    elif kind == "ts":
        d["ts"] = rng.choice(["yesterday", "2026-13-01T00:00:00.000Z", 1767225600, "2026-01-01 00:00:00"])
    elif "latency_ms" in d:
        d |= rng.choice([{"latency_ms": -1.0}, {"latency_ms": "fast"}, {"task": "astrology"},
                         {"output": None}, {"model_name": "bad name"}])  # fmt: skip
    else:
        d |= rng.choice([{"source": "s" * 65}, {"prediction_id": "a" * 200}, {"ground_truth": None}])
    return json.dumps(d).encode()


def stream(seed: int = 5) -> tuple[list[Message], list[Message]]:
    """Predictions and feedback, valid ones (ids p<i>) and mutants (keys bad-<n>) mixed in time."""
    rng = random.Random(seed)
    predictions: list[Message] = []
    feedback: list[Message] = []
    n = 0
    for i in range(VALID_PAIRS):
        at = scenario.T0 + timedelta(seconds=i * 0.5)
        p = PredictionEvent(
            prediction_id=f"p{i}",
            model_name="clf",
            model_version="1",
            task="classification",
            inputs={"x0": 0.1 * i, "x1": 1.0, "x2": 2.0},
            output=i % 3,
            latency_ms=2.0,
            ts=at,
        )
        f = FeedbackEvent(prediction_id=p.prediction_id, ground_truth=i % 2, ts=at + timedelta(seconds=1))
        predictions.append((p.prediction_id, encode(p)))
        feedback.append((f.prediction_id, encode(f)))
        for event, target, contract in ((p, predictions, PredictionEvent), (f, feedback, FeedbackEvent)):
            for _ in range(MUTANTS_PER_TOPIC // VALID_PAIRS + (i < MUTANTS_PER_TOPIC % VALID_PAIRS)):
                while True:
                    n += 1
                    raw = mutate(rng, json.loads(encode(event)), n)
                    try:
                        decode(raw, contract)
                    except InvalidEventError:
                        break  # bad, as the contract says: it goes in
                target.append((f"bad-{n}", raw))
    flush_p, flush_f = scenario._flush(timedelta(seconds=600), scenario.FLUSH)
    return [*predictions, flush_p], [*feedback, flush_f]


def bad_offsets(messages: list[Message]) -> set[int]:
    return {offset for offset, (key, _) in enumerate(messages) if key.startswith("bad-")}


def test_mutated_events_go_to_the_dead_letters_and_the_job_keeps_running(
    settings: Settings, topics: Topics, send: Callable, run_job: Callable, tmp_path: Path
) -> None:
    predictions, feedback = stream()
    send(topics.predictions, predictions)
    send(topics.feedback, feedback)
    job = job_for_scenario(settings, topics, tmp_path)
    record = run_job(**job)
    wanted = {(topics.predictions, offset) for offset in bad_offsets(predictions)} | {
        (topics.feedback, offset) for offset in bad_offsets(feedback)
    }
    assert len(wanted) == 2 * MUTANTS_PER_TOPIC

    @eventually(timeout=240, interval=2)
    def dead_lettered() -> list[DeadLetterEvent]:
        letters = [e for e in collect(settings, topics.dlq, 1000) if isinstance(e, DeadLetterEvent)]
        if missing := wanted - {(e.source_topic, e.offset) for e in letters}:
            raw = {topics.predictions: predictions, topics.feedback: feedback}
            examples = [raw[topic][offset][1][:300] for topic, offset in sorted(missing)[:3]]
            raise NotYet(f"{len(missing)} of {len(wanted)} dead letters missing, e.g. {examples}")
        return letters

    letters = dead_lettered()
    places = {(e.source_topic, e.offset) for e in letters}

    # The valid predictions span the first 20 s; the flush, 600 s on, closes their windows.
    starts = {scenario.T0 + timedelta(seconds=s) for s in range(0, VALID_PAIRS // 2, scenario.WINDOW_S)}

    @eventually(timeout=240, interval=2)
    def windows() -> list[MetricsEvent]:
        events = [e for e in collect(settings, topics.metrics, 1000) if isinstance(e, MetricsEvent)]
        tumbling = [e for e in events if e.window.kind == "tumbling" and e.model_name != scenario.FLUSH]
        if missing := starts - {e.window.start for e in tumbling}:
            raise NotYet(f"tumbling windows from {sorted(missing)} not out yet")
        return tumbling

    tumbling = windows()
    counted = sum(e.predictions for e in tumbling)
    report(
        FaultRecord(
            scenario="mutated events into the job",
            unit="bad events",
            sent=len(wanted),
            acknowledged=len(wanted),
            found=len(places & wanted),
            lost=len(wanted - places),
            copies=len(letters) - len(places),
            counted_twice=max(0, counted - VALID_PAIRS),
            fuzz_cases=len(wanted),
        )
    )
    assert places == wanted
    assert len(letters) == len(wanted), "each bad event once"
    for letter in letters:
        assert letter.rejected_by == "flink" and letter.field and letter.reason, letter
    assert {(e.model_name, e.model_version) for e in tumbling} == {("clf", "1")}, "no mutant made a window"
    assert counted == VALID_PAIRS
    assert sum(e.labeled for e in tumbling) == VALID_PAIRS

    assert record.job_id is not None
    assert failures(settings, record.job_id) == [], "the job failed"
    assert jobs_named(settings, f"{topics.predictions.rsplit('.', 1)[0]}-job") == {record.job_id: "RUNNING"}
