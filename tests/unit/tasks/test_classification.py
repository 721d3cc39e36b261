"""Classification metrics against scikit-learn on fixed cases."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from closeloop.tasks import TaskError, get_task

CASES = [
    ([0, 1, 2, 2, 1], [0, 1, 1, 2, 1]),
    (["cat", "dog", "dog", "bird"], ["cat", "cat", "dog", "dog"]),
    # A label only ever predicted, never true, and one never predicted.
    ([1, 1, 1, 1], [0, 1, 2, 1]),
    ([5], [5]),
]


@pytest.mark.parametrize(("outputs", "truths"), CASES)
def test_matches_scikit_learn(outputs: list, truths: list) -> None:
    metrics = get_task("classification").metrics(outputs, truths)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(truths, outputs), abs=1e-12)
    expected = f1_score(truths, outputs, average="macro", zero_division=0)
    assert metrics["macro_f1"] == pytest.approx(expected, abs=1e-12)


def test_matches_scikit_learn_on_a_large_random_case() -> None:
    rng = np.random.default_rng(7)
    truths = rng.integers(0, 10, 5000).tolist()
    outputs = [t if rng.random() < 0.8 else int(rng.integers(0, 12)) for t in truths]
    metrics = get_task("classification").metrics(outputs, truths)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(truths, outputs), abs=1e-12)
    assert metrics["macro_f1"] == pytest.approx(f1_score(truths, outputs, average="macro"), abs=1e-12)


def test_labels_are_strings_or_integers_and_not_both_the_same() -> None:
    task = get_task("classification")
    assert task.metrics(["3"], [3])["accuracy"] == 0.0
    with pytest.raises(TaskError, match=r"output must be a label: a string or an integer"):
        task.validate_output(3.5)
    with pytest.raises(TaskError, match="ground_truth"):
        task.validate_ground_truth([1])


def test_lengths_must_agree_and_be_nonzero() -> None:
    task = get_task("classification")
    with pytest.raises(TaskError, match="2 outputs but 1 ground truths"):
        task.metrics([1, 2], [1])
    with pytest.raises(TaskError, match="no labeled examples"):
        task.metrics([], [])


def test_a_label_taken_back_leaves_no_class_behind() -> None:
    # The streaming job counts a label, then takes it back with its statistics negated
    # when an earlier feedback arrives: the class it alone brought must not count.
    task = get_task("classification")
    totals = Counter(task.statistics(1, 1)) + Counter(task.statistics(2, 1))
    totals.update(task.statistics(2, 7))
    totals.subtract(task.statistics(2, 7))
    assert totals["actual:7"] == 0
    assert task.from_statistics(totals) == pytest.approx(task.metrics([1, 2], [1, 1]), abs=1e-12)
