"""Drift for printed lines: a blurred scan, or a new font.

A drifted line is the same text printed again in another style (``data.Style``),
so ``drift_frame`` re-renders each row's text. ``severity`` scales the drift;
0 leaves the rows as they are. Character error rate of the default model on
400 lines (clean: about 0.001), drifted at 1.0, then after retraining on the
base lines plus 600 drifted ones (``tests/unit/training/usecases/ocr``):

- blur: a Gaussian blur of 1.8 pixels per unit: the glyphs run together at the
  base model's ink threshold; about 1.0, retrained 0.01;
- font: that share of the lines (all from 1.0 on) in STIX General, a serif
  font; about 0.38, retrained 0.01.
"""

from __future__ import annotations

import random

import pandas as pd

from training.usecases.base import TARGET
from training.usecases.ocr.data import FEATURES, STYLE, encode_png, render_line
from training.usecases.raw_inputs import check_drift

__all__ = ["DRIFT_KINDS", "drift_frame"]

#: The kinds of drift ``drift_frame`` knows.
DRIFT_KINDS: tuple[str, ...] = ("blur", "font")

_BLUR_PX = 1.8  # per unit of severity
_NEW_FONT = "STIXGeneral.ttf"


def drift_frame(frame: pd.DataFrame, kind: str, severity: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """A copy of ``frame`` whose images are its texts (``TARGET``) printed with the drift; other columns kept.

    The same rows, kind, severity and seed always give the same images.
    ValueError for an unknown kind, a negative or non-finite severity, or a
    frame without the text.
    """
    check_drift(frame, kind, DRIFT_KINDS, severity, "prints each line again")
    if severity == 0:
        return frame.copy()
    rng = random.Random(seed)
    images = []
    for text in frame[TARGET]:
        if kind == "blur":
            style = STYLE.but(blur=_BLUR_PX * severity)
        else:
            style = STYLE.but(font=_NEW_FONT) if rng.random() < severity else STYLE
        images.append(encode_png(render_line(str(text), style, rng)))
    return frame.assign(**{FEATURES[0]: images})
