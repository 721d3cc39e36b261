"""Which task plug-ins exist. Adding a task is a new module and one entry here."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from closeloop.tasks.base import Task, TaskError

__all__ = ["TASKS", "get_task", "task_names"]

#: Task name -> "module:Class". Imported on first use, so a task's own
#: dependencies load only where that task runs.
TASKS: dict[str, str] = {
    "classification": "closeloop.tasks.classification:ClassificationTask",
    "regression": "closeloop.tasks.regression:RegressionTask",
    "ocr": "closeloop.tasks.text:OcrTask",
    "speech_to_text": "closeloop.tasks.text:SpeechToTextTask",
    "detection": "closeloop.tasks.detection:DetectionTask",
}


def task_names() -> list[str]:
    return sorted(TASKS)


@cache
def get_task(name: str) -> Task:
    """The plug-in for ``name``; TaskError listing the known tasks if there is none."""
    try:
        module, cls = TASKS[name].split(":")
    except KeyError:
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}") from None
    task = getattr(import_module(module), cls)()
    if task.name != name:
        raise TaskError(f"registry entry {name!r} points at task {task.name!r}")
    return task
