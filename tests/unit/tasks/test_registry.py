"""The task registry: every entry loads, names agree, unknown names are explained."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from closeloop.tasks import Task, TaskError, get_task, task_names
from closeloop.tasks.registry import TASKS


def test_every_entry_loads_a_task_of_that_name() -> None:
    assert task_names() == ["classification", "detection", "ocr", "regression", "speech_to_text"]
    for name in TASKS:
        task = get_task(name)
        assert isinstance(task, Task)
        assert task.name == name
        assert task.metric_names


def test_unknown_task_lists_the_known() -> None:
    with pytest.raises(TaskError, match="unknown task 'translation'; known tasks: classification"):
        get_task("translation")


def test_a_new_task_is_a_module_and_an_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plug-in from anywhere: here, a module of this test."""
    monkeypatch.setitem(TASKS, "count", f"{__name__}:CountTask")
    assert get_task("count").metrics([1, 2], [1, 3]) == {"exact": 0.5}
    assert get_task("count") is get_task("count")


class CountTask(Task):
    name = "count"
    output_type = int
    output_description = "a whole number"
    metric_names = ("exact",)

    def _statistics(self, output: int, truth: int) -> dict[str, float]:
        return {"n": 1.0, "exact": float(output == truth)}

    def _from_statistics(self, totals: Mapping[str, float]) -> dict[str, float]:
        return {"exact": totals["exact"] / totals["n"]}


@pytest.mark.parametrize(
    ("task", "outputs", "truths"),
    [
        ("classification", [1, 2, 2, "2", 3], [1, 2, 3, 2, 3]),
        ("regression", [1.0, 2.5, -3.0], [1.5, 2.0, 0.0]),
        ("ocr", ["helo world", "abc"], ["hello world", "abd"]),
        (
            "detection",
            [[{"box": [0, 0, 1, 1], "label": "a"}], []],
            [[{"box": [0, 0, 1, 1], "label": "a"}], []],
        ),
    ],
)
def test_statistics_split_anywhere_sum_to_the_same_metrics(task: str, outputs: list, truths: list) -> None:
    """A window is any split of a stream: summing two halves' statistics must change nothing."""
    from collections import Counter

    plugin = get_task(task)
    whole = plugin.metrics(outputs, truths)
    for cut in range(1, len(outputs)):
        totals: Counter[str] = Counter()
        for part in (slice(None, cut), slice(cut, None)):
            for o, t in zip(outputs[part], truths[part], strict=True):
                totals.update(plugin.statistics(o, t))
        assert plugin.from_statistics(totals) == pytest.approx(whole, abs=1e-12)
