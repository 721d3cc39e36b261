"""What a demo run is asked to do (DemoOptions), and how it says that a step of the loop did not happen."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from closeloop.errors import CloseloopError
from training.usecases.digits.drift import DRIFT_KINDS

__all__ = ["DemoFailed", "DemoOptions"]


class DemoFailed(CloseloopError):
    """A step of the loop did not happen; the message says which and why."""

    def __init__(self, step: str, why: str) -> None:
        super().__init__(f"{step}: {why}")
        self.step = step
        self.why = why


@dataclass(frozen=True)
class DemoOptions:
    rate_per_s: float = 30.0
    clients: int = 4
    feedback_coverage: float = 0.8
    feedback_delay_s: tuple[float, float] = (0.5, 3.0)
    drift_kind: str = "thickness"
    drift_severity: float = 1.0
    #: Seconds of clean traffic before the drift starts.
    drift_start_s: float = 45.0
    window_s: int = 5
    #: Live accuracy the new champion must reach for the loop to count as closed.
    recovery_threshold: float = 0.85
    #: Windows of the new champion (each with enough labels) its accuracy is judged over.
    recovery_windows: int = 2
    #: How long after the drift the loop may take to close before the demo gives up.
    loop_timeout_s: float = 300.0
    keep_running: bool = False
    output_dir: Path | None = None
    #: After the loop closes, this many more seconds of the drifted traffic on the stack's own
    #: streaming job, which must start no further retrain or promotion (0: no such check).
    settle_s: float = 0.0

    def __post_init__(self) -> None:
        if self.drift_kind not in DRIFT_KINDS:
            raise ValueError(f"unknown drift kind {self.drift_kind!r}; known kinds: {', '.join(DRIFT_KINDS)}")
        if self.window_s < 1 or self.drift_start_s < 2 * self.window_s:
            raise ValueError(
                f"the drift must start at least two windows ({2 * self.window_s} s) into the traffic, "
                f"so the clean accuracy is seen first; got {self.drift_start_s} s"
            )
        if self.settle_s < 0:
            raise ValueError(f"the settle time must be 0 (no check) or more seconds; got {self.settle_s}")
