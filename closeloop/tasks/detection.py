"""Object detection: boxes per image; precision and recall of boxes matched at IoU ≥ 0.5.

Matching is the usual greedy one (PASCAL VOC, COCO): per image and label,
predicted boxes in order of descending score each take the unmatched true box
they overlap most, if that overlap reaches the threshold. Counts are summed
over all images before dividing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from closeloop.tasks.base import Task

__all__ = ["IOU_THRESHOLD", "Box", "DetectionTask", "iou", "match_counts"]

IOU_THRESHOLD = 0.5


class Box(BaseModel):
    """An axis-aligned box, corners (x1, y1) top-left and (x2, y2) bottom-right."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    box: tuple[float, float, float, float]
    label: StrictStr | StrictInt
    score: float = Field(default=1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _corners_ordered(self) -> Box:
        x1, y1, x2, y2 = self.box
        if x2 < x1 or y2 < y1:
            raise ValueError(f"box {list(self.box)} must be [x1, y1, x2, y2] with x1 <= x2 and y1 <= y2")
        return self


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    intersection = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union if union > 0 else 0.0


def match_counts(predicted: list[Box], actual: list[Box], threshold: float = IOU_THRESHOLD) -> int:
    """How many predicted boxes match a distinct true box of the same label."""
    matched: set[int] = set()
    for guess in sorted(predicted, key=lambda b: -b.score):
        best, best_iou = None, threshold
        for index, truth in enumerate(actual):
            if index in matched or truth.label != guess.label:
                continue
            overlap = iou(guess.box, truth.box)
            if overlap >= best_iou:
                best, best_iou = index, overlap
        if best is not None:
            matched.add(best)
    return len(matched)


class DetectionTask(Task):
    name = "detection"
    output_type: ClassVar[Any] = list[Box]
    output_description = 'a list of boxes {"box": [x1, y1, x2, y2], "label": …, "score": …}'
    metric_names = ("precision", "recall")

    def _statistics(self, output: Any, truth: Any) -> dict[str, float]:
        return {
            "n": 1.0,
            "true_positives": float(match_counts(output, truth)),
            "predicted": float(len(output)),
            "actual": float(len(truth)),
        }

    def _from_statistics(self, totals: Mapping[str, float]) -> dict[str, float]:
        tp, predicted, actual = totals["true_positives"], totals["predicted"], totals["actual"]
        # No predictions: nothing claimed wrongly (precision 1); no objects: nothing missed.
        return {"precision": tp / predicted if predicted else 1.0, "recall": tp / actual if actual else 1.0}
