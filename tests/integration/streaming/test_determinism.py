"""The first feedback is the label, in one meaning: by event time, then by arrival.

A client that sends the original answer and its correction in one batch gives
both the same time. The label must be the original (it arrived first), in the
job's first run and in a replay of the same topics from the start. Feedback
out of order, of an earlier time than a label already given, takes its place:
in the windows and in the lake.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd

from closeloop.config import Settings, Topics
from closeloop.events import FeedbackEvent, MetricsEvent, encode
from closeloop.lake import read_labeled
from tests.integration.streaming import scenario
from tests.integration.streaming.checks import SETTINGS, collect, committed, window_key
from tests.waiting import NotYet, eventually

PAIRS = 20


def _stream() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    predictions, feedback = [], []
    for i in range(PAIRS):
        at = scenario.T0 + timedelta(seconds=i * 0.4)
        p = scenario.clf_prediction(f"p{i}", i % 3, at)
        predictions.append((p.prediction_id, encode(p)))
        # One batch: the original (right) and its correction (wrong), one time.
        labeled_at = at + timedelta(seconds=1)
        for truth, source in ((i % 3, "user"), (i % 3 + 1, "correction")):
            f = FeedbackEvent(prediction_id=p.prediction_id, ground_truth=truth, source=source, ts=labeled_at)
            feedback.append((p.prediction_id, encode(f)))
    flush_p, flush_f = scenario._flush(timedelta(seconds=600), scenario.FLUSH)
    return [*predictions, flush_p], [*feedback, flush_f]


def _windows(settings: Settings, topics: Topics, runs: int) -> dict[tuple, list[MetricsEvent]]:
    @eventually(timeout=240, interval=2)
    def both_runs() -> dict[tuple, list[MetricsEvent]]:
        found: dict[tuple, list[MetricsEvent]] = {}
        for e in collect(settings, topics.metrics, 100):
            if isinstance(e, MetricsEvent) and e.model_name == "clf":
                found.setdefault(window_key(e), []).append(e)
        tumbling = [k for k in found if k[2] == "tumbling"]
        if len(tumbling) < 1 or any(len(v) < runs for v in found.values()):
            raise NotYet(f"{len(found)} windows, runs seen: {sorted({len(v) for v in found.values()})}")
        return found

    return both_runs()


def test_a_batch_labels_with_its_first_feedback_in_a_run_and_in_a_replay(
    settings: Settings, topics: Topics, send: Callable, run_job: Callable, tmp_path: Path
) -> None:
    predictions, feedback = _stream()
    send(topics.predictions, predictions)
    send(topics.feedback, feedback)
    prefix = topics.predictions.rsplit(".", 1)[0]
    run_job(**SETTINGS, lake_prefix=f"{prefix}/first")

    first = _windows(settings, topics, runs=1)
    for events in first.values():
        (event,) = events
        assert event.quality["accuracy"] == 1.0, "a correction sent with its original became the label"
        assert event.feedback == 2 * event.labeled
    assert sum(e[0].labeled for k, e in first.items() if k[2] == "tumbling") == PAIRS

    # A replay of the same topics by a new job: the same windows, number for number.
    run_job(**SETTINGS, job_name=f"{prefix}-replay", lake_prefix=f"{prefix}/replay")
    replayed = _windows(settings, topics, runs=2)
    for key, (a, b) in replayed.items():
        assert a.model_dump(exclude={"ts"}) == b.model_dump(exclude={"ts"}), key

    @eventually(timeout=60, interval=2)
    def lake() -> list[dict]:
        rows = [
            r
            for r in read_labeled(settings, prefix=f"{prefix}/replay").to_pylist()
            if r["model_name"] == "clf"
        ]
        if len(rows) < PAIRS:
            raise NotYet(f"{len(rows)} of {PAIRS} labeled examples")
        return rows

    assert sorted((r["prediction_id"], r["source"]) for r in lake()) == sorted(
        (f"p{i}", "user") for i in range(PAIRS)
    )


def test_feedback_of_an_earlier_time_takes_the_label_given_before_it(
    settings: Settings, topics: Topics, send: Callable, run_job: Callable
) -> None:
    predictions, first, second = [], [], []
    for i in range(PAIRS):
        at = scenario.T0 + timedelta(seconds=i * 0.4)
        p = scenario.clf_prediction(f"p{i}", i % 3, at)
        predictions.append((p.prediction_id, encode(p)))
        # The wrong answer arrives first but is of a later time (within the out-of-orderness):
        # the job labels with it at once, then the right one takes its place.
        for truth, source, after, batch in ((i % 3 + 1, "labeler", 3, first), (i % 3, "user", 1, second)):
            f = FeedbackEvent(
                prediction_id=p.prediction_id,
                ground_truth=truth,
                source=source,
                ts=at + timedelta(seconds=after),
            )
            batch.append((p.prediction_id, encode(f)))
    prefix = topics.predictions.rsplit(".", 1)[0]
    send(topics.predictions, predictions)
    run_job(**SETTINGS, checkpoint_interval_s=1, lake_prefix=f"{prefix}/lake")

    # A completed checkpoint holds every prediction: the keyed step has them all before any feedback.
    @eventually(timeout=240, interval=1)
    def predictions_in() -> None:
        if (done := committed(settings, f"{prefix}-job-predictions", topics.predictions)) < PAIRS:
            raise NotYet(f"{done} of {PAIRS} predictions checkpointed")

    predictions_in()
    send(topics.feedback, [message for pair in zip(first, second, strict=True) for message in pair])
    flush_p, flush_f = scenario._flush(timedelta(seconds=600), scenario.FLUSH)
    send(topics.predictions, [flush_p])
    send(topics.feedback, [flush_f])

    # Every right answer falls in the first 10 s, the last two wrong ones in the next 10 s.
    head_start, tail_start = pd.Timestamp(scenario.T0), pd.Timestamp(scenario.T0 + timedelta(seconds=10))

    @eventually(timeout=240, interval=2)
    def tumbling() -> dict[pd.Timestamp, MetricsEvent]:
        found = {
            pd.Timestamp(e.window.start): e
            for e in collect(settings, topics.metrics, 100)
            if isinstance(e, MetricsEvent) and e.model_name == "clf" and e.window.kind == "tumbling"
        }
        if len(found) < 2:
            raise NotYet(f"tumbling windows so far: {sorted(found)}")
        return found

    windows = tumbling()
    assert set(windows) == {head_start, tail_start}
    head, tail = windows[head_start], windows[tail_start]
    assert (head.feedback, head.labeled, head.quality["accuracy"]) == (2 * PAIRS - 2, PAIRS, 1.0)
    # The wrong answers' labels went to this window at once, and were taken back.
    assert (tail.feedback, tail.labeled, tail.quality) == (2, 0, {})

    @eventually(timeout=60, interval=2)
    def lake() -> list[dict]:
        rows = [
            r for r in read_labeled(settings, prefix=f"{prefix}/lake").to_pylist() if r["model_name"] == "clf"
        ]
        if len(rows) < PAIRS:
            raise NotYet(f"{len(rows)} of {PAIRS} labeled examples")
        return rows

    assert sorted((r["prediction_id"], r["source"]) for r in lake()) == sorted(
        (f"p{i}", "user") for i in range(PAIRS)
    )
