"""Detection precision and recall at IoU >= 0.5, against an independent matcher.

The reference below matches boxes by maximum bipartite matching (scipy's
linear_sum_assignment) instead of closeloop's greedy order; on these cases,
chosen so that no greedy choice blocks a better one, both must agree.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from closeloop.tasks import TaskError, get_task
from closeloop.tasks.detection import iou


def reference_true_positives(predicted: list[dict], actual: list[dict]) -> int:
    if not predicted or not actual:
        return 0
    eligible = np.zeros((len(predicted), len(actual)))
    for i, p in enumerate(predicted):
        for j, a in enumerate(actual):
            if p["label"] == a["label"] and iou(tuple(p["box"]), tuple(a["box"])) >= 0.5:
                eligible[i, j] = 1
    rows, cols = linear_sum_assignment(-eligible)
    return int(eligible[rows, cols].sum())


def box(x1: float, y1: float, x2: float, y2: float, label: str = "car", score: float = 0.9) -> dict:
    return {"box": [x1, y1, x2, y2], "label": label, "score": score}


IMAGES = [
    # Exact hit, a near miss (IoU 0.47), and a duplicate of the hit.
    (
        [box(0, 0, 10, 10), box(20, 20, 30, 30), box(0, 0, 10, 10, score=0.5)],
        [box(0, 0, 10, 10), box(23, 23, 33, 33)],
    ),
    # Right place, wrong label; and a missed object.
    ([box(0, 0, 10, 10, "person")], [box(0, 0, 10, 10, "car"), box(50, 50, 60, 60, "car")]),
    # IoU exactly 0.5 counts: [0,0,10,10] vs [0,0,10,20] overlap 100 / union 200.
    ([box(0, 0, 10, 10)], [box(0, 0, 10, 20)]),
    # An image with nothing predicted and nothing there.
    ([], []),
    # Two objects, two good boxes, in either order of score.
    (
        [box(0, 0, 10, 10, score=0.3), box(100, 100, 110, 112, score=0.8)],
        [box(100, 100, 110, 110), box(1, 1, 11, 11)],
    ),
]


def test_matches_an_independent_matcher() -> None:
    outputs = [p for p, _ in IMAGES]
    truths = [t for _, t in IMAGES]
    tp = sum(reference_true_positives(p, t) for p, t in IMAGES)
    predicted = sum(len(p) for p in outputs)
    actual = sum(len(t) for t in truths)
    metrics = get_task("detection").metrics(outputs, truths)
    assert tp == 4
    assert metrics["precision"] == pytest.approx(tp / predicted, abs=1e-12)
    assert metrics["recall"] == pytest.approx(tp / actual, abs=1e-12)


def test_iou_by_hand() -> None:
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0


def test_no_predictions_and_no_objects() -> None:
    assert get_task("detection").metrics([[]], [[]]) == {"precision": 1.0, "recall": 1.0}
    assert get_task("detection").metrics([[]], [[box(0, 0, 1, 1)]])["recall"] == 0.0


def test_boxes_must_have_ordered_corners() -> None:
    with pytest.raises(TaskError, match=r"output.0 must be a list of boxes.*x1 <= x2"):
        get_task("detection").validate_output([box(10, 0, 0, 10)])
    with pytest.raises(TaskError, match=r"output\.0"):
        get_task("detection").validate_output([{"box": [0, 0, 1], "label": "car"}])
