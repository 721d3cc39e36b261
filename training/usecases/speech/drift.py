"""Drift for spoken utterances: a whispering voice, or background noise.

A drifted utterance is the same transcript spoken again in another style
(``data.Style``), so ``drift_frame`` re-synthesizes each row's transcript.
``severity`` scales the drift; 0 leaves the rows as they are. Word error rate
of the default model on 400 utterances (clean: 0.0), drifted at 1.0, then
after retraining on the base utterances plus 600 drifted ones
(``tests/unit/training/usecases/speech``):

- voice: that share of the utterances (all from 1.0 on) whispered: no pitch,
  so the model's spectra no longer match; about 0.6, retrained 0.0;
- noise: white background noise of 0.035 of full scale per unit, as from a
  cheap microphone: words drown, and the quiet ones vanish; about 0.6,
  retrained 0.01.
"""

from __future__ import annotations

import random

import pandas as pd

from training.usecases.base import TARGET
from training.usecases.raw_inputs import check_drift
from training.usecases.speech.data import FEATURES, STYLE, encode_wav, speak

__all__ = ["DRIFT_KINDS", "drift_frame"]

#: The kinds of drift ``drift_frame`` knows.
DRIFT_KINDS: tuple[str, ...] = ("voice", "noise")

_NOISE = 0.035  # per unit of severity, as a fraction of full scale
_NEW_VOICES = ("en-us+whisper",)


def drift_frame(frame: pd.DataFrame, kind: str, severity: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """A copy of ``frame`` whose audio is its transcripts (``TARGET``) said with the drift; columns kept.

    The same rows, kind, severity and seed always give the same audio.
    ValueError for an unknown kind, a negative or non-finite severity, or a
    frame without the transcript.
    """
    check_drift(frame, kind, DRIFT_KINDS, severity, "says each transcript again")
    if severity == 0:
        return frame.copy()
    rng = random.Random(seed)
    audio = []
    for text in frame[TARGET]:
        if kind == "noise":
            style = STYLE.but(noise=STYLE.noise + _NOISE * severity)
        else:
            style = STYLE.but(voices=_NEW_VOICES) if rng.random() < severity else STYLE
        audio.append(encode_wav(speak(str(text), style, rng)))
    return frame.assign(**{FEATURES[0]: audio})
