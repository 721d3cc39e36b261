"""The contract of a task plug-in: the shape of its outputs and its live quality metrics."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import TypeAdapter, ValidationError

from closeloop.errors import CloseloopError

__all__ = ["Task", "TaskError"]

# Names pydantic gives the branches of a union in an error's location.
_BRANCHES = {"str", "int", "float", "list", "dict", "bool", "function-after[_corners_ordered(), Box]"}


class TaskError(CloseloopError, ValueError):
    """An output or ground truth does not have the task's shape, or metrics cannot be computed.

    A ValueError too, so that pydantic reports it as a validation error of the event.
    """


class Task(ABC):
    """A kind of model: classification, regression, OCR, speech-to-text, detection…

    A plug-in says what one output looks like (a type pydantic can validate,
    which is also the shape of the ground truth) and how to score a batch of
    outputs against their ground truths. It must import in both the main and
    the Flink environment, so it depends on numpy and the standard library only.
    """

    #: The name events carry in their `task` field.
    name: ClassVar[str]
    #: The type of one output; ground truth has the same shape.
    output_type: ClassVar[Any]
    #: What one output looks like, for error messages.
    output_description: ClassVar[str]
    #: The names of the metrics `metrics` returns, in a stable order.
    metric_names: ClassVar[tuple[str, ...]]

    def __init__(self) -> None:
        self._adapter: TypeAdapter[Any] = TypeAdapter(self.output_type)

    def validate_output(self, value: Any, *, what: str = "output") -> Any:
        """``value`` in canonical form; TaskError naming ``what`` if it has the wrong shape."""
        try:
            return self._adapter.validate_python(value)
        except ValidationError as exc:
            # A union's errors are one per branch; the first names the problem well enough.
            first = exc.errors(include_url=False)[0]
            inner = [str(p) for p in first["loc"] if not isinstance(p, str) or p not in _BRANCHES]
            where = ".".join([what, *inner])
            raise TaskError(
                f"{where} must be {self.output_description} for a {self.name} model, "
                f"got {value!r:.80}: {first['msg']}"
            ) from exc

    def validate_ground_truth(self, value: Any) -> Any:
        return self.validate_output(value, what="ground_truth")

    def to_json(self, value: Any) -> Any:
        """A validated output as plain JSON data, for events."""
        return self._adapter.dump_python(value, mode="json")

    def statistics(self, output: Any, truth: Any) -> dict[str, float]:
        """Additive statistics of one labeled example, validated first.

        Summed over any set of examples (a window of a stream, a batch), they
        give that set's metrics through ``from_statistics``: the streaming job
        and ``metrics`` compute the same numbers the same way. Every task counts
        its examples under "n".
        """
        return self._statistics(self.validate_output(output), self.validate_ground_truth(truth))

    def from_statistics(self, totals: Mapping[str, float]) -> dict[str, float]:
        """The metrics of a set of examples from the sums of their statistics."""
        if not totals.get("n"):
            raise TaskError(f"{self.name}: no labeled examples to score")
        return self._from_statistics(totals)

    def metrics(self, outputs: Sequence[Any], truths: Sequence[Any]) -> dict[str, float]:
        """Quality of ``outputs`` against ``truths`` (same length, same order), by metric name."""
        if len(outputs) != len(truths):
            raise TaskError(f"{self.name}: {len(outputs)} outputs but {len(truths)} ground truths")
        totals: Counter[str] = Counter()
        for output, truth in zip(outputs, truths, strict=True):
            totals.update(self.statistics(output, truth))
        return self.from_statistics(totals)

    @abstractmethod
    def _statistics(self, output: Any, truth: Any) -> dict[str, float]: ...

    @abstractmethod
    def _from_statistics(self, totals: Mapping[str, float]) -> dict[str, float]: ...
