"""The OCR model: cut a line into glyphs where the ink stops, read each glyph, put spaces at wide gaps.

Three things are learned from the labeled lines, so a retrain on drifted
lines relearns all of them:

- the ink threshold that cuts lines into as many glyphs as their text has
  characters (a blurred scan needs a higher one, or glyphs run together);
- the gap, in line heights, above which a space is read;
- a multinomial logistic regression from each glyph (scaled to GLYPH x GLYPH
  pixels with its width kept, plus that width) to its character.

Lines whose glyph count does not match their text teach the threshold but
not the classifier: their glyphs cannot be told apart from their characters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.base import BaseEstimator

from training.usecases.base import TARGET
from training.usecases.ocr.data import FEATURES
from training.usecases.ocr.image import decode, ink
from training.usecases.ocr.monitoring import MONITORING, line_features
from training.usecases.ocr.params import DEFAULT_PARAMS, THRESHOLDS
from training.usecases.raw_inputs import column, decode_each

__all__ = ["DEFAULT_PARAMS", "GLYPH", "LineReader", "fit", "glyphs"]

#: Glyphs are read as GLYPH x GLYPH pixel boxes.
GLYPH = 20


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a 1-d mask."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def glyphs(amount: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The glyphs of a line's ink (``image.ink``) cut at ``threshold``, and the gaps between them.

    Returns (glyph features: one row of GLYPH² pixels and the width per glyph,
    gaps: len - 1 widths in line heights). A glyph is a run of columns with
    ink above the threshold; its box spans the rows where the whole line has
    ink, so a glyph's height and place in the line are kept ("-" sits low).
    """
    above = amount > threshold
    columns, rows = _runs(above.any(axis=0)), np.flatnonzero(above.any(axis=1))
    if not columns:
        return np.empty((0, GLYPH * GLYPH + 1)), np.empty(0)
    top, bottom = rows[0], rows[-1] + 1
    scale = GLYPH / (bottom - top)
    features = np.zeros((len(columns), GLYPH * GLYPH + 1))
    for i, (start, end) in enumerate(columns):
        width = min(GLYPH, max(1, round((end - start) * scale)))
        cut = Image.fromarray(np.uint8(amount[top:bottom, start:end] * 255))
        box = np.zeros((GLYPH, GLYPH))
        left = (GLYPH - width) // 2
        box[:, left : left + width] = np.asarray(cut.resize((width, GLYPH), Image.Resampling.BILINEAR)) / 255
        features[i, :-1] = box.ravel()
        features[i, -1] = width / GLYPH
    gaps = np.array([b[0] - a[1] for a, b in pairwise(columns)]) / (bottom - top)
    return features, gaps


def _glyph_count(amount: np.ndarray, threshold: float) -> int:
    """How many glyphs ``glyphs(amount, threshold)`` cuts, without cutting them."""
    return len(_runs((amount > threshold).any(axis=0)))


def _word_ends(text: str) -> set[int]:
    """Indexes of the gaps (between glyphs i and i + 1) that are spaces in ``text``."""
    ends, seen = set(), 0
    for word in text.split(" ")[:-1]:
        seen += len(word)
        ends.add(seen - 1)
    return ends


class LineReader(BaseEstimator):
    """Line images (base64 PNG) to their text; scikit-learn's estimator API, so MLflow can log it."""

    def __init__(self, C: float = 1.0, max_iter: int = 300, thresholds: Sequence[float] = THRESHOLDS) -> None:
        self.C = C
        self.max_iter = max_iter
        self.thresholds = thresholds

    def fit(self, images: Any, texts: Sequence[str]) -> LineReader:
        from sklearn.linear_model import LogisticRegression

        amounts = [ink(decode(image)) for image in column(images, FEATURES[0])]
        texts = [str(text) for text in texts]
        wanted = [len(text.replace(" ", "")) for text in texts]
        # The threshold that cuts the most lines into exactly their characters. Counting the glyphs
        # needs only the runs of inked columns: cutting them out (glyphs) took half the fit.
        matched = {
            t: sum(_glyph_count(a, t) == n for a, n in zip(amounts, wanted, strict=True))
            for t in self.thresholds
        }
        self.threshold_ = max(self.thresholds, key=lambda t: (matched[t], -t))
        self.lines_matched_ = matched[self.threshold_]
        if not self.lines_matched_:
            raise ValueError("no line cuts into as many glyphs as its text has characters")
        rows, chars, spaces, inner = [], [], [], []
        for amount, text, n in zip(amounts, texts, wanted, strict=True):
            features, gaps = glyphs(amount, self.threshold_)
            if len(features) != n:
                continue
            rows.append(features)
            chars += text.replace(" ", "")
            ends = _word_ends(text)
            for i, gap in enumerate(gaps):
                (spaces if i in ends else inner).append(gap)
        # Halfway between the narrowest spaces and the widest gaps inside words.
        self.space_gap_ = (
            (float(np.percentile(spaces, 5)) + float(np.percentile(inner, 95))) / 2
            if spaces and inner
            else 0.5
        )
        self.classifier_ = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(np.vstack(rows), chars)
        return self

    def predict(self, images: Any) -> list[str]:
        return [self.read(ink(grey)) for grey in _decoded(images)]

    def monitor(self, images: Any) -> pd.DataFrame:
        """What drift is measured on, per image (``monitoring``): sent with each prediction."""
        return pd.DataFrame([line_features(grey) for grey in _decoded(images)], columns=MONITORING)

    def read(self, amount: np.ndarray) -> str:
        """The text of one line's ink."""
        features, gaps = glyphs(amount, self.threshold_)
        if not len(features):
            return ""
        chars = self.classifier_.predict(features)
        spaced = [" " + c if gap > self.space_gap_ else c for c, gap in zip(chars[1:], gaps, strict=True)]
        return str(chars[0]) + "".join(spaced)


def _decoded(images: Any) -> list[np.ndarray]:
    """Each image decoded; InputError naming the first that does not decode, by its index."""
    return decode_each(images, FEATURES[0], decode)


def fit(frame: pd.DataFrame, params: Mapping[str, Any]) -> LineReader:
    """A LineReader fitted on ``frame`` (image and text); ``params`` has every DEFAULT_PARAMS key."""
    reader = LineReader(
        C=float(params["C"]), max_iter=int(params["max_iter"]), thresholds=tuple(params["thresholds"])
    )
    return reader.fit(frame[FEATURES[0]], frame[TARGET])
