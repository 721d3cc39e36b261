"""The speech model: cut an utterance into words where the sound drops, read each word's mel spectrum.

Two things are learned from the labeled utterances, so a retrain on drifted
ones relearns both:

- the loudness threshold (a fraction of the way from the noise floor to the
  peak) that cuts utterances into as many words as their transcripts have
  (over background noise, quiet words need a lower one);
- a logistic regression from each word (its log mel spectrum pooled into
  STEPS time steps, relative to its loudest band, plus its duration) to the word.

Utterances whose word count does not match their transcript teach the
threshold but not the classifier: their words cannot be told apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from training.usecases.base import TARGET
from training.usecases.raw_inputs import column, decode_each
from training.usecases.speech.audio import decode, frame_levels, log_mel, noise_floor
from training.usecases.speech.data import FEATURES
from training.usecases.speech.monitoring import MONITORING, utterance_features
from training.usecases.speech.params import THRESHOLDS

__all__ = ["STEPS", "UtteranceReader", "fit", "words"]

#: A word's spectrum is read as this many time steps, whatever its duration.
STEPS = 12
# Frames (10 ms): a pause shorter than MIN_PAUSE is inside a word (the closure of "t" in "eight");
# a sound shorter than MIN_WORD is a click, not a word.
MIN_PAUSE, MIN_WORD = 10, 4
# Bands more than this many dB under a word's loudest are noise, whatever their level.
_FLOOR_DB = 60.0


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a 1-d mask."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def words(levels: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """The [start, end) frames of each word of an utterance's frame levels (``audio.frame_levels``)."""
    floor, peak = noise_floor(levels), levels.max()
    merged: list[tuple[int, int]] = []
    for start, end in _runs(levels > floor + threshold * (peak - floor)):
        if merged and start - merged[-1][1] < MIN_PAUSE:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return [(start, end) for start, end in merged if end - start >= MIN_WORD]


def word_features(mel: np.ndarray, start: int, end: int) -> np.ndarray:
    """One word's features: its log mel frames [start, end) pooled to STEPS rows, and its duration."""
    word = mel[start:end]
    at = np.linspace(0, len(word) - 1, STEPS)
    pooled = np.stack([np.interp(at, np.arange(len(word)), band) for band in word.T], axis=1)
    # Relative to the loudest band: the same word said louder reads the same.
    relative = np.maximum(pooled - pooled.max(), -_FLOOR_DB) / 20
    return np.concatenate([relative.ravel(), [(end - start) / 50]])


class UtteranceReader(BaseEstimator):
    """Utterances (base64 WAV) to their transcripts; scikit-learn's estimator API, so MLflow can log it."""

    def __init__(self, C: float = 0.1, max_iter: int = 500, thresholds: Sequence[float] = THRESHOLDS) -> None:
        self.C = C
        self.max_iter = max_iter
        self.thresholds = thresholds

    def fit(self, audio: Any, transcripts: Sequence[str]) -> UtteranceReader:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        decoded = [decode(wav) for wav in column(audio, FEATURES[0])]
        levels = [frame_levels(a) for a in decoded]
        said = [str(text).split() for text in transcripts]
        matched = {
            t: sum(len(words(lv, t)) == len(ws) for lv, ws in zip(levels, said, strict=True))
            for t in self.thresholds
        }
        self.threshold_ = max(self.thresholds, key=lambda t: (matched[t], -t))
        self.utterances_matched_ = matched[self.threshold_]
        if not self.utterances_matched_:
            raise ValueError("no utterance cuts into as many words as its transcript has")
        rows, labels = [], []
        for a, lv, ws in zip(decoded, levels, said, strict=True):
            cut = words(lv, self.threshold_)
            if len(cut) != len(ws):
                continue
            mel = log_mel(a)
            rows += [word_features(mel, start, end) for start, end in cut]
            labels += ws
        self.classifier_ = make_pipeline(
            StandardScaler(), LogisticRegression(C=self.C, max_iter=self.max_iter)
        ).fit(np.vstack(rows), labels)
        return self

    def predict(self, audio: Any) -> list[str]:
        return [self.transcribe(a) for a in _decoded(audio)]

    def monitor(self, audio: Any) -> pd.DataFrame:
        """What drift is measured on, per utterance (``monitoring``): sent with each prediction."""
        return pd.DataFrame([utterance_features(a) for a in _decoded(audio)], columns=MONITORING)

    def transcribe(self, audio: np.ndarray) -> str:
        """The transcript of one decoded utterance."""
        cut = words(frame_levels(audio), self.threshold_)
        if not cut:
            return ""
        mel = log_mel(audio)
        return " ".join(self.classifier_.predict(np.vstack([word_features(mel, s, e) for s, e in cut])))


def _decoded(audio: Any) -> list[np.ndarray]:
    """Each utterance decoded; InputError naming the first that does not decode, by its index."""
    return decode_each(audio, FEATURES[0], decode)


def fit(frame: pd.DataFrame, params: Mapping[str, Any]) -> UtteranceReader:
    """An UtteranceReader fitted on ``frame`` (audio, transcript); ``params`` has each DEFAULT_PARAMS key."""
    reader = UtteranceReader(
        C=float(params["C"]), max_iter=int(params["max_iter"]), thresholds=tuple(params["thresholds"])
    )
    return reader.fit(frame[FEATURES[0]], frame[TARGET])
