"""Task plug-ins: what an output looks like and how outputs are scored against ground truth."""

from closeloop.tasks.base import Task, TaskError
from closeloop.tasks.registry import get_task, task_names

__all__ = ["Task", "TaskError", "get_task", "task_names"]
