"""A stream with known answers for the feedback job, and those answers recomputed offline.

The stream mixes three models (classification, regression, OCR: a raw-input
model, whose predictions carry the features drift is measured on) and carries
what production throws at the job: out-of-order events, exact duplicates,
failed predictions, corrections, feedback for unknown predictions, feedback
that cannot be scored, malformed events, and (in a second phase) events that
arrive after their windows have closed. ``expected_metrics`` recomputes every
window's metrics with pandas, scikit-learn and jiwer, from the events alone.
"""

from __future__ import annotations

import json
import random
import string
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jiwer
import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error

from closeloop.events import FeedbackEvent, PredictionEvent, encode
from closeloop.monitoring.latency import LatencySketch
from closeloop.monitoring.profiles import ReferenceProfile, build_profile

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW_S, SLIDING_S, OUT_OF_ORDERNESS_S, LABEL_DELAY_S = 10, 30, 3, 60
MODELS = [("clf", "1", "classification"), ("reg", "3", "regression"), ("ocr", "2", "ocr")]
WORDS = ["closing", "the", "loop", "between", "models", "and", "their", "retraining"]
FLUSH = "__flush__"

Message = tuple[str, bytes]


@dataclass
class Scenario:
    predictions: list[PredictionEvent] = field(default_factory=list)
    feedback: list[FeedbackEvent] = field(default_factory=list)
    prediction_messages: list[Message] = field(default_factory=list)
    feedback_messages: list[Message] = field(default_factory=list)
    late_messages: list[Message] = field(default_factory=list)
    last_flush: list[Message] = field(default_factory=list)
    #: (source topic suffix, field) -> how many dead letters.
    dead_letters: Counter[tuple[str, str]] = field(default_factory=Counter)
    unscorable: set[str] = field(default_factory=set)


def _features(rng: random.Random, *, drifted: bool) -> dict[str, float]:
    """Three inputs; after 30 s the classifier's x0 shifts by two standard deviations."""
    return {
        "x0": round(rng.gauss(2.0 if drifted else 0.0, 1.0), 4),
        "x1": round(rng.uniform(0, 10), 4),
        "x2": round(rng.expovariate(1.0), 4),
    }


def profiles(seed: int = 11) -> list[ReferenceProfile]:
    """Reference profiles of the three models: the OCR model's of its features, not of its text."""
    rng = random.Random(seed)
    rows = [_features(rng, drifted=False) for _ in range(2000)]
    columns = {name: [row[name] for row in rows] for name in ("x0", "x1", "x2")}
    return [
        build_profile("clf", "1", columns, outputs=[rng.randint(0, 3) for _ in rows], bins=8),
        build_profile(
            "reg", "3", columns, outputs=[rng.gauss(10, 3) for _ in rows], bins=8, categorical_output=False
        ),
        build_profile("ocr", "2", columns, bins=8),
    ]


def clf_prediction(prediction_id: str, output: int, ts: datetime) -> PredictionEvent:
    """A prediction of "clf" version 1, a classifier with one input, for the tests' short streams."""
    return PredictionEvent(
        prediction_id=prediction_id,
        model_name="clf",
        model_version="1",
        task="classification",
        inputs={"x0": 0.0},
        output=output,
        latency_ms=1.0,
        ts=ts,
    )


def _flush(at: timedelta, name: str) -> tuple[Message, Message]:
    return flush_messages(T0 + at, name)


def flush_messages(ts: datetime, name: str) -> tuple[Message, Message]:
    """A prediction and its feedback at ``ts``, for the predictions and feedback topics: sent after
    everything else, at a later time, they move both sources' watermarks past every window before it."""
    prediction = PredictionEvent(
        prediction_id=name,
        model_name=FLUSH,
        model_version="0",
        task="regression",
        inputs={},
        output=0.0,
        latency_ms=0.0,
        ts=ts,
    )
    feedback = FeedbackEvent(prediction_id=name, ground_truth=0.0, ts=ts)
    return (name, encode(prediction)), (name, encode(feedback))


def build(seed: int = 7, count: int = 240) -> Scenario:
    rng = random.Random(seed)
    s = Scenario()
    timed_predictions: list[tuple[float, Message]] = []
    timed_feedback: list[tuple[float, Message]] = []

    def send(target: list[tuple[float, Message]], at: float, key: str, raw: bytes) -> None:
        # Disorder below the allowed out-of-orderness: nothing here is late.
        target.append((at + rng.uniform(0, OUT_OF_ORDERNESS_S - 0.5), (key, raw)))

    for i in range(count):
        name, version, task = MODELS[i % len(MODELS)]
        at = rng.uniform(0, 60)
        if task == "classification":
            output, truth = rng.randint(0, 3), rng.randint(0, 3)
            truth = output if rng.random() < 0.7 else truth
        elif task == "regression":
            output = round(rng.gauss(10, 3), 3)
            truth = round(output + rng.gauss(0, 1), 3)
        else:
            truth = " ".join(rng.sample(WORDS, 3))
            chars = list(truth)
            chars[rng.randrange(len(chars))] = rng.choice(string.ascii_lowercase)
            output = "".join(chars) if rng.random() < 0.6 else truth
        failed = rng.random() < 0.05
        numbers = _features(rng, drifted=at > 30 and name in ("clf", "ocr"))
        # The OCR model's input is an image; the numbers are what it computed from it.
        raw_input = {"image_png": f"png-{i}"} if task == "ocr" else None
        prediction = PredictionEvent(
            prediction_id=f"p{i}",
            model_name=name,
            model_version=version,
            task=task,
            inputs=raw_input or numbers,
            features=numbers if raw_input else None,
            output=None if failed else output,
            error="boom" if failed else None,
            latency_ms=round(rng.uniform(1, 50), 3),
            ts=T0 + timedelta(seconds=at),
        )
        s.predictions.append(prediction)
        raw = encode(prediction)
        send(timed_predictions, at, prediction.prediction_id, raw)
        if rng.random() < 0.1:
            send(timed_predictions, at, prediction.prediction_id, raw)  # a retried delivery

        if rng.random() < 0.6:
            label_at = at + rng.uniform(0.5, 20)
            if task == "classification" and not failed and len(s.unscorable) < 3 and rng.random() < 0.1:
                truth = 2.5  # not a label: the job cannot score it
                s.unscorable.add(prediction.prediction_id)
                s.dead_letters["feedback", "ground_truth"] += 1
            answer = FeedbackEvent(
                prediction_id=prediction.prediction_id,
                ground_truth=truth,
                ts=T0 + timedelta(seconds=label_at),
            )
            s.feedback.append(answer)
            send(timed_feedback, label_at, answer.prediction_id, encode(answer))
            if rng.random() < 0.1:
                send(timed_feedback, label_at, answer.prediction_id, encode(answer))
            if rng.random() < 0.05:
                correction = FeedbackEvent(
                    prediction_id=prediction.prediction_id,
                    ground_truth=truth,
                    source="labeler",
                    ts=T0 + timedelta(seconds=label_at + rng.uniform(1, 5)),
                )
                s.feedback.append(correction)
                # Sent at its own time: sending it earlier would make what follows late.
                corrected_at = (correction.ts - T0).total_seconds()
                send(timed_feedback, corrected_at, correction.prediction_id, encode(correction))

    for n in range(4):  # feedback for predictions that never were
        ghost = FeedbackEvent(prediction_id=f"ghost-{n}", ground_truth=1, ts=T0 + timedelta(seconds=10 + n))
        send(timed_feedback, 10 + n, ghost.prediction_id, encode(ghost))
        s.dead_letters["feedback", "prediction_id"] += 1

    # Broken events carry a time that fits where they are sent: a rejected event
    # still moves its source's watermark, so a later time would make what follows late.
    at_30 = json.loads(
        encode(FeedbackEvent(prediction_id="x", ground_truth=0, ts=T0 + timedelta(seconds=30)))
    )
    valid = json.loads(encode(s.predictions[0])) | {"ts": at_30["ts"]}
    broken_predictions: list[tuple[str, dict[str, Any] | bytes]] = [
        ("(event)", b"not json at all"),
        ("prediction_id", {k: v for k, v in valid.items() if k != "prediction_id"}),
        ("latency_ms", valid | {"latency_ms": -1}),
        ("task", valid | {"task": "translation"}),
        ("ts", valid | {"ts": "yesterday"}),
        # A time far ahead of Kafka's, written last (as other producers may): the watermark must
        # not follow it.
        ("ts", {k: v for k, v in valid.items() if k != "ts"} | {"ts": "2099-01-01T00:00:00.000Z"}),
        ("output", valid | {"output": None, "error": None}),
    ]
    for broken_field, body in broken_predictions:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        send(timed_predictions, 30, "broken", raw)
        s.dead_letters["predictions", broken_field] += 1
    valid_feedback = json.loads(encode(s.feedback[0])) | {"ts": at_30["ts"]}
    for broken_field, body in {
        "ground_truth": {k: v for k, v in valid_feedback.items() if k != "ground_truth"},
        "schema": valid_feedback | {"schema": "closeloop.feedback.v0"},
    }.items():
        send(timed_feedback, 30, "broken", json.dumps(body).encode())
        s.dead_letters["feedback", broken_field] += 1

    first_flush = _flush(timedelta(seconds=600), FLUSH)
    s.prediction_messages = [m for _, m in sorted(timed_predictions, key=lambda x: x[0])] + [first_flush[0]]
    s.feedback_messages = [m for _, m in sorted(timed_feedback, key=lambda x: x[0])] + [first_flush[1]]

    # Phase two: after every window above has closed, predictions in those
    # windows arrive. Late: they must change nothing, and go to the dead-letter topic.
    for n in range(5):
        late = PredictionEvent(
            prediction_id=f"late-{n}",
            model_name="clf",
            model_version="1",
            task="classification",
            inputs={},
            output=1,
            latency_ms=1.0,
            ts=T0 + timedelta(seconds=5 + n * 5),
        )
        s.late_messages.append((late.prediction_id, encode(late)))
        s.dead_letters["predictions", "ts"] += 1
    # Then a flush on both topics: both sources' watermarks hold the windows back.
    s.last_flush = list(_flush(timedelta(seconds=1200), f"{FLUSH}2"))
    return s


def _windows(ts: pd.Timestamp) -> list[tuple[str, pd.Timestamp]]:
    seconds = int((ts - pd.Timestamp(0, tz="UTC")).total_seconds() // WINDOW_S) * WINDOW_S
    start = pd.Timestamp(seconds, unit="s", tz="UTC")
    tumbling = [("tumbling", start)]
    steps = SLIDING_S // WINDOW_S
    sliding = [("sliding", start - pd.Timedelta(seconds=WINDOW_S * k)) for k in range(steps)]
    return tumbling + sliding


def _quality(task: str, outputs: list, truths: list) -> dict[str, float]:
    if not outputs:
        return {}
    if task == "classification":
        return {
            "accuracy": accuracy_score(truths, outputs),
            "macro_f1": f1_score(truths, outputs, average="macro", zero_division=0),
        }
    if task == "regression":
        return {
            "mae": mean_absolute_error(truths, outputs),
            "rmse": float(np.sqrt(mean_squared_error(truths, outputs))),
        }
    return {"cer": jiwer.cer(truths, outputs), "wer": jiwer.wer(truths, outputs)}


def _drift(
    profile: ReferenceProfile | None, inputs: list[dict], outputs: list
) -> dict[str, dict[str, float]]:
    """PSI and JS per column, from numpy histograms and scipy, as the module docs define them."""
    if profile is None or not inputs:
        return {}
    result = {}
    columns = {name: ([row[name] for row in inputs], bins) for name, bins in profile.features.items()}
    if profile.output is not None and outputs:
        columns["__output__"] = (outputs, profile.output)
    for name, (values, bins) in columns.items():
        if bins.kind == "numeric":
            counts = np.histogram(values, bins=np.concatenate([[-np.inf], bins.cuts, [np.inf]]))[0]
        else:
            index = {c: i for i, c in enumerate(bins.categories)}
            counts = np.bincount(
                [index.get(json.dumps(v), len(index)) for v in values], minlength=len(index) + 1
            )
        actual = counts / counts.sum()
        expected = np.asarray(bins.proportions)
        a, e = np.clip(actual, 1e-4, None), np.clip(expected, 1e-4, None)
        result[name] = {
            "psi": float(((a - e) * np.log(a / e)).sum()),
            "js": float(jensenshannon(actual, expected, base=2)),
        }
    return result


def expected_metrics(s: Scenario) -> dict[tuple[str, str, str, pd.Timestamp], dict]:
    """(model, version, window kind, window start) -> the metrics the job must emit, by the job's rules.

    Predictions count in the window of their time, feedback and labels in the
    window of the feedback's. A prediction's label is its first feedback
    (failed predictions get none); corrections count as feedback only.
    """
    predictions = {p.prediction_id: p for p in s.predictions}
    rows: dict[tuple, dict] = {}

    def window_row(model: str, version: str, task: str, kind: str, start: pd.Timestamp) -> dict:
        key = (model, version, kind, start)
        return rows.setdefault(
            key,
            {
                "task": task,
                "predictions": 0,
                "errors": 0,
                "feedback": 0,
                "labeled": 0,
                "latency": [],
                "outputs": [],
                "truths": [],
                "inputs": [],
                "model_outputs": [],
            },
        )

    for p in s.predictions:
        for kind, start in _windows(pd.Timestamp(p.ts)):
            row = window_row(p.model_name, p.model_version, p.task, kind, start)
            row["predictions"] += 1
            row["errors"] += p.error is not None
            row["latency"].append(p.latency_ms)
            row["inputs"].append(p.monitored())
            if p.error is None:
                row["model_outputs"].append(p.output)

    labeled: set[str] = set()
    for f in sorted(s.feedback, key=lambda f: f.ts):
        p = predictions[f.prediction_id]
        assert p.ts <= f.ts <= p.ts + timedelta(seconds=LABEL_DELAY_S)
        first = p.error is None and f.prediction_id not in labeled
        labeled.add(f.prediction_id) if first else None
        for kind, start in _windows(pd.Timestamp(f.ts)):
            row = window_row(p.model_name, p.model_version, p.task, kind, start)
            row["feedback"] += 1
            if first:
                row["labeled"] += 1
                if f.prediction_id not in s.unscorable:
                    row["outputs"].append(p.output)
                    row["truths"].append(f.ground_truth)

    by_model = {(p.model_name, p.model_version): p for p in profiles()}
    expected = {}
    for key, row in rows.items():
        n = row["predictions"]
        expected[key] = {
            "predictions": n,
            "errors": row["errors"],
            "feedback": row["feedback"],
            "labeled": row["labeled"],
            "label_coverage": min(1.0, row["labeled"] / n) if n else 0.0,
            "error_rate": row["errors"] / n if n else 0.0,
            # The job's quantiles are its sketch's (within 0.5 % of numpy's, which the check also asserts).
            "latency": LatencySketch.of(row["latency"]).quantiles([0.5, 0.95, 0.99]),
            "latency_exact": np.percentile(row["latency"], [50, 95, 99]).tolist() if row["latency"] else None,
            "quality": _quality(row["task"], row["outputs"], row["truths"]),
            "drift": _drift(by_model.get(key[:2]), row["inputs"], row["model_outputs"]),
        }
    return expected


def lake_examples(s: Scenario) -> dict[str, PredictionEvent]:
    """The predictions the lake must hold: first labeled, not failed, scorable."""
    predictions = {p.prediction_id: p for p in s.predictions}
    labeled = {f.prediction_id for f in s.feedback}
    return {
        pid: predictions[pid] for pid in labeled if predictions[pid].error is None and pid not in s.unscorable
    }
