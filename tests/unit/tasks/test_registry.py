"""The task registry: every entry loads, names agree, unknown names are explained."""

from __future__ import annotations

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
    get_task.cache_clear()
    try:
        assert get_task("count").metrics([1, 2], [1, 3]) == {"exact": 0.5}
    finally:
        get_task.cache_clear()


class CountTask(Task):
    name = "count"
    output_type = int
    output_description = "a whole number"
    metric_names = ("exact",)

    def _metrics(self, outputs: list, truths: list) -> dict[str, float]:
        return {"exact": sum(o == t for o, t in zip(outputs, truths, strict=True)) / len(truths)}
