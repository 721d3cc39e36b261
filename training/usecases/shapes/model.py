"""The shapes model: find the blobs of ink above the paper, keep the big enough ones, classify each.

Three things are learned from the labeled scenes, so a retrain on drifted
scenes relearns all of them:

- the ink threshold, in grey levels below the local paper, at which the
  connected components of ink match the true boxes (IoU >= 0.5): of the
  candidates that match nearly as many boxes as the best one, the middle
  one, for the most margin both ways (faint objects need a lower one, light
  clutter that runs into the objects a higher one). The base scenes give
  0.1; with drifted ones added, 0.42 for clutter and 0.03 for faint ink;
- the smallest component kept, picked the same way (noise and specks are
  smaller than any object): 16 pixels;
- a logistic regression from each component (its mask scaled to PATCH x PATCH
  pixels, its size, aspect and fill) to its class, or to "background" when it
  matches no true box: clutter that stays apart from the objects is learned
  and dropped.

The paper is estimated locally (a grey closing wider than any object), so
uneven light does not read as ink; the image is smoothed first, so that low
thresholds do not pick up the sensor noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage
from sklearn.base import BaseEstimator

from closeloop.tasks.detection import IOU_THRESHOLD
from training.usecases.base import TARGET
from training.usecases.raw_inputs import column, decode_each
from training.usecases.shapes.data import FEATURES, MAX_SIDE
from training.usecases.shapes.image import decode
from training.usecases.shapes.monitoring import MONITORING, scene_features
from training.usecases.shapes.params import DEFAULT_PARAMS, MIN_AREAS, THRESHOLDS

__all__ = ["BACKGROUND", "DEFAULT_PARAMS", "PATCH", "ShapeDetector", "components", "fit", "ink_above_paper"]

#: The class of a component that is no object.
BACKGROUND = "background"
#: Components are classified as PATCH x PATCH masks.
PATCH = 12
# Smoothing: a low threshold on the raw pixels would cut the noise into specks.
_SMOOTH_SIGMA = 0.7
# Wider than any object and the gap beside it: every window of the closing holds some paper.
_PAPER_WINDOW = MAX_SIDE + 5
# Diagonal neighbours connect: a thin slanted line is one component, not a string of dots.
_CONNECTIVITY = np.ones((3, 3), dtype=bool)
# Candidates that match this share of the best one's boxes count as working.
_WORKING = 0.995


def ink_above_paper(grey: np.ndarray) -> np.ndarray:
    """How much darker than the paper around it each pixel of a decoded image is, in [0, 1] grey units."""
    smooth = ndimage.gaussian_filter(grey, _SMOOTH_SIGMA)
    # Closing removes anything darker than the paper and narrower than the window: the paper is left.
    amount = ndimage.grey_closing(smooth, size=(_PAPER_WINDOW, _PAPER_WINDOW)) - smooth
    # The closing sits on the noise's peaks: a scene is mostly paper, so its median is that offset.
    return amount - np.median(amount)


def _labeled(
    amount: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, list[tuple[slice, slice]]]:
    """The components of ``amount > threshold``: the label image, each label's area, each one's slices."""
    labels, _ = ndimage.label(amount > threshold, structure=_CONNECTIVITY)
    return labels, np.bincount(labels.ravel()), ndimage.find_objects(labels)


def components(amount: np.ndarray, threshold: float, min_area: int = 1) -> list[tuple[list[int], np.ndarray]]:
    """The connected components of ``amount > threshold`` of at least ``min_area`` pixels.

    Each as (box [x1, y1, x2, y2], x2 and y2 exclusive; its mask within the box).
    """
    labels, areas, slices = _labeled(amount, threshold)
    return [
        ([columns.start, rows.start, columns.stop, rows.stop], labels[rows, columns] == index)
        for index, (rows, columns) in enumerate(slices, start=1)
        if areas[index] >= min_area
    ]


def _features(mask: np.ndarray) -> np.ndarray:
    """A component's mask scaled to PATCH x PATCH, then its height and width, log aspect and fill."""
    height, width = mask.shape
    patch = Image.fromarray(mask.astype(np.uint8) * 255).resize((PATCH, PATCH), Image.Resampling.BILINEAR)
    shape = [height / MAX_SIDE, width / MAX_SIDE, np.log(height / width), mask.mean()]
    return np.concatenate([np.asarray(patch, dtype=np.float64).ravel() / 255, shape])


def _iou(boxes: np.ndarray, truths: np.ndarray) -> np.ndarray:
    """The IoU of each of ``boxes`` (n x 4) with each of ``truths`` (m x 4), as an n x m matrix."""
    left = np.maximum(boxes[:, None, 0], truths[None, :, 0])
    top = np.maximum(boxes[:, None, 1], truths[None, :, 1])
    right = np.minimum(boxes[:, None, 2], truths[None, :, 2])
    bottom = np.minimum(boxes[:, None, 3], truths[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area_b = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    area_t = (truths[:, 2] - truths[:, 0]) * (truths[:, 3] - truths[:, 1])
    return inter / (area_b[:, None] + area_t[None, :] - inter)


def _middle(ok: np.ndarray) -> int:
    """The index in the middle of the True entries of ``ok``: the candidate with the most margin."""
    indexes = np.flatnonzero(ok)
    return int(indexes[len(indexes) // 2])


class ShapeDetector(BaseEstimator):
    """Scene images (base64 PNG) to boxes of circles, squares and triangles; scikit-learn's estimator
    API, so MLflow can log it."""

    def __init__(
        self,
        C: float = 1.0,
        max_iter: int = 500,
        thresholds: Sequence[float] = THRESHOLDS,
        min_areas: Sequence[int] = MIN_AREAS,
    ) -> None:
        self.C = C
        self.max_iter = max_iter
        self.thresholds = thresholds
        self.min_areas = min_areas

    def fit(self, images: Any, targets: Sequence[Sequence[Mapping[str, Any]]]) -> ShapeDetector:
        """Learn from scenes and their boxes: {"box": [x1, y1, x2, y2] (x2, y2 exclusive), "label": ...}."""
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        amounts = [ink_above_paper(decode(image)) for image in column(images, FEATURES[0])]
        truths = [np.array([o["box"] for o in t], dtype=np.float64).reshape(-1, 4) for t in targets]
        labels = [[str(o["label"]) for o in t] for t in targets]
        self.threshold_, self.min_area_ = self._choose(amounts, truths)
        rows, classes = [], []
        for amount, truth, names in zip(amounts, truths, labels, strict=True):
            found = components(amount, self.threshold_, self.min_area_)
            if not found:
                continue
            overlaps = _iou(np.array([box for box, _ in found], dtype=np.float64), truth)
            for (_, mask), overlap in zip(found, overlaps, strict=True):
                rows.append(_features(mask))
                best = int(overlap.argmax()) if len(names) else -1
                classes.append(names[best] if best >= 0 and overlap[best] >= IOU_THRESHOLD else BACKGROUND)
        if len(set(classes)) < 2:
            raise ValueError(f"the scenes' components fall in fewer than two classes: {sorted(set(classes))}")
        # A few thousand rows: BLAS threads cost more than they save, the more so on shared cores.
        with threadpool_limits(limits=1, user_api="blas"):
            self.classifier_ = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(
                np.vstack(rows), classes
            )
        return self

    def _choose(self, amounts: list[np.ndarray], truths: list[np.ndarray]) -> tuple[float, int]:
        """The threshold and minimum area whose components match the most true boxes, with the most margin."""
        min_areas = np.asarray(self.min_areas)
        matched = np.zeros((len(self.thresholds), len(min_areas)))
        for i, threshold in enumerate(self.thresholds):
            for amount, truth in zip(amounts, truths, strict=True):
                if not len(truth):
                    continue
                # Boxes and areas only: cutting out every component's mask took most of the fit.
                _, areas, slices = _labeled(amount, threshold)
                if not slices:
                    continue
                boxes = np.array([[c.start, r.start, c.stop, r.stop] for r, c in slices], dtype=np.float64)
                areas = areas[1:]
                hits = _iou(boxes, truth) >= IOU_THRESHOLD
                for j, min_area in enumerate(min_areas):
                    kept = hits[areas >= min_area]
                    # One box per component and one component per box (components never overlap much).
                    matched[i, j] += min(kept.any(axis=1).sum(), kept.any(axis=0).sum())
        self.boxes_matched_ = float(matched.max())
        working = matched >= _WORKING * matched.max()
        i = _middle(working.any(axis=1))
        j = _middle(working[i])
        return float(self.thresholds[i]), int(min_areas[j])

    def predict(self, images: Any) -> list[list[dict[str, Any]]]:
        """Each scene's boxes ``{"box": [x1, y1, x2, y2], "label", "score"}``, the surest first."""
        scenes = [
            components(ink_above_paper(grey), self.threshold_, self.min_area_) for grey in _decoded(images)
        ]
        rows = [_features(mask) for found in scenes for _, mask in found]
        if not rows:
            return [[] for _ in scenes]
        probabilities = iter(self.classifier_.predict_proba(np.vstack(rows)))
        classes = [str(c) for c in self.classifier_.classes_]
        outputs = []
        for found in scenes:
            boxes = []
            for (box, _), p in zip(found, probabilities, strict=False):
                best = int(p.argmax())
                if classes[best] != BACKGROUND:
                    # Plain ints and floats: the outputs go out as JSON.
                    boxes.append(
                        {"box": [int(v) for v in box], "label": classes[best], "score": float(p[best])}
                    )
            outputs.append(sorted(boxes, key=lambda b: -b["score"]))
        return outputs

    def monitor(self, images: Any) -> pd.DataFrame:
        """What drift is measured on, per image (``monitoring``): sent with each prediction."""
        return pd.DataFrame([scene_features(grey) for grey in _decoded(images)], columns=MONITORING)


def _decoded(images: Any) -> list[np.ndarray]:
    """Each image decoded; InputError naming the first that does not decode, by its index."""
    return decode_each(images, FEATURES[0], decode)


def fit(frame: pd.DataFrame, params: Mapping[str, Any]) -> ShapeDetector:
    """A ShapeDetector fitted on ``frame`` (image and layout); ``params`` has every DEFAULT_PARAMS key."""
    detector = ShapeDetector(
        C=float(params["C"]),
        max_iter=int(params["max_iter"]),
        thresholds=tuple(float(t) for t in params["thresholds"]),
        min_areas=tuple(int(a) for a in params["min_areas"]),
    )
    return detector.fit(frame[FEATURES[0]], list(frame[TARGET]))
