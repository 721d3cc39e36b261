"""Classification: one label per input; accuracy and macro-averaged F1."""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

from pydantic import StrictInt, StrictStr

from closeloop.tasks.base import Task

__all__ = ["ClassificationTask"]


class ClassificationTask(Task):
    name = "classification"
    # Labels are strings or integers; "3" and 3 are different labels.
    output_type: ClassVar[Any] = StrictStr | StrictInt
    output_description = "a label: a string or an integer"
    metric_names = ("accuracy", "macro_f1")

    def _metrics(self, outputs: list[Any], truths: list[Any]) -> dict[str, float]:
        correct = sum(o == t for o, t in zip(outputs, truths, strict=True))
        return {"accuracy": correct / len(truths), "macro_f1": macro_f1(outputs, truths)}


def macro_f1(outputs: list[Any], truths: list[Any]) -> float:
    """F1 averaged over every label seen in either the outputs or the truths.

    A label's F1 is 2·TP / (2·TP + FP + FN), and 0 where that is 0/0: the
    convention of scikit-learn's f1_score(average="macro", zero_division=0).
    """
    true_positive: Counter[Any] = Counter()
    predicted: Counter[Any] = Counter(outputs)
    actual: Counter[Any] = Counter(truths)
    for output, truth in zip(outputs, truths, strict=True):
        if output == truth:
            true_positive[truth] += 1
    labels = set(predicted) | set(actual)
    scores = []
    for label in labels:
        denominator = predicted[label] + actual[label]  # = 2·TP + FP + FN
        scores.append(2 * true_positive[label] / denominator if denominator else 0.0)
    return sum(scores) / len(scores)
