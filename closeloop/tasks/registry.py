"""Which task plug-ins exist. Adding a task is a new module and one entry here."""

from __future__ import annotations

from closeloop.registry import LazyRegistry
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

_REGISTRY = LazyRegistry(Task, TASKS, kind="task", error=TaskError)


def task_names() -> list[str]:
    return _REGISTRY.names()


def get_task(name: str) -> Task:
    """The plug-in for ``name``, built once; TaskError listing the known tasks if there is none."""
    return _REGISTRY.get(name)
