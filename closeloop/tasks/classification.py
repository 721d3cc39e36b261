"""Classification: one label per input; accuracy and macro-averaged F1."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import StrictInt, StrictStr

from closeloop.tasks.base import Task

__all__ = ["ClassificationTask"]


def _label(value: Any) -> str:
    # JSON text keeps 3 and "3" apart, as the output type does.
    return json.dumps(value)


class ClassificationTask(Task):
    """Macro-F1 averages over every label seen among outputs or truths; a label's F1 is
    2·TP / (2·TP + FP + FN), 0 where that is 0/0 (scikit-learn's f1_score with
    average="macro", zero_division=0)."""

    name = "classification"
    # Labels are strings or integers; "3" and 3 are different labels.
    output_type: ClassVar[Any] = StrictStr | StrictInt
    output_description = "a label: a string or an integer"
    metric_names = ("accuracy", "macro_f1")

    def _statistics(self, output: Any, truth: Any) -> dict[str, float]:
        hit = float(output == truth)
        stats = {"n": 1.0, "correct": hit, f"predicted:{_label(output)}": 1.0, f"hit:{_label(truth)}": hit}
        # Added, not assigned: output and truth may be the same label.
        stats[f"actual:{_label(truth)}"] = stats.get(f"actual:{_label(truth)}", 0.0) + 1.0
        return stats

    def _from_statistics(self, totals: Mapping[str, float]) -> dict[str, float]:
        # A label counted and then taken back (the streaming job's retraction) leaves its keys at zero.
        counted = (key for key, total in totals.items() if total)
        labels = {key.split(":", 1)[1] for key in counted if key.startswith(("predicted:", "actual:"))}
        scores = []
        for label in labels:
            # predicted + actual = 2·TP + FP + FN
            denominator = totals.get(f"predicted:{label}", 0.0) + totals.get(f"actual:{label}", 0.0)
            scores.append(2 * totals.get(f"hit:{label}", 0.0) / denominator if denominator else 0.0)
        return {"accuracy": totals["correct"] / totals["n"], "macro_f1": sum(scores) / len(scores)}
