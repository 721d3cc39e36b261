"""What a demo run is asked to do (DemoOptions), and how it says that a step of the loop did not happen."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from closeloop.errors import CloseloopError
from training.usecases import get_use_case, use_case_class

__all__ = ["DemoFailed", "DemoOptions"]


class DemoFailed(CloseloopError):
    """A step of the loop did not happen; the message says which and why."""

    def __init__(self, step: str, why: str) -> None:
        super().__init__(f"{step}: {why}")
        self.step = step
        self.why = why


@dataclass(frozen=True)
class DemoOptions:
    """What a demo run does. The drift kind and the recovery threshold default to the use case's."""

    #: The use case whose loop is closed (training.usecases.registry).
    use_case: str = "digits"
    rate_per_s: float = 30.0
    clients: int = 4
    feedback_coverage: float = 0.8
    feedback_delay_s: tuple[float, float] = (0.5, 3.0)
    #: One of the use case's drift kinds; empty: its first.
    drift_kind: str = ""
    drift_severity: float = 1.0
    #: Seconds of clean traffic before the drift starts.
    drift_start_s: float = 45.0
    window_s: int = 5
    #: The live primary metric (accuracy, CER, ...) the new champion must reach for the loop to
    #: count as closed; None: the use case's ``recovery_threshold``.
    recovery_threshold: float | None = None
    #: Windows of the new champion (each with enough labels) its quality is judged over.
    recovery_windows: int = 2
    #: How long after the drift the loop may take to close before the demo gives up.
    loop_timeout_s: float = 300.0
    keep_running: bool = False
    output_dir: Path | None = None
    #: After the loop closes, this many more seconds of the drifted traffic on the stack's own
    #: streaming job, which must start no further retrain or promotion (0: no such check).
    settle_s: float = 0.0
    #: The retrain's challenger first serves this share of the traffic as a canary, promoted when
    #: the live windows show it not worse than the champion (the retrain DAG's rollout "canary").
    canary: bool = False
    canary_share: float = 0.5

    def __post_init__(self) -> None:
        try:
            use_case = use_case_class(self.use_case)
        except LookupError as exc:
            raise ValueError(str(exc)) from exc
        kinds = list(use_case.drift_kinds)
        if not kinds or use_case.recovery_threshold is None:
            raise ValueError(f"the {self.use_case} use case has no demo: it declares no drift kinds")
        # A frozen dataclass: the defaults the use case gives are set once, here.
        object.__setattr__(self, "drift_kind", self.drift_kind or kinds[0])
        if self.recovery_threshold is None:
            object.__setattr__(self, "recovery_threshold", use_case.recovery_threshold)
        if self.drift_kind not in kinds:
            raise ValueError(
                f"unknown drift kind {self.drift_kind!r} for {self.use_case}; known kinds: {', '.join(kinds)}"
            )
        if self.window_s < 1 or self.drift_start_s < 2 * self.window_s:
            raise ValueError(
                f"the drift must start at least two windows ({2 * self.window_s} s) into the traffic, "
                f"so the clean quality is seen first; got {self.drift_start_s} s"
            )
        if not 0 < self.canary_share <= 1:
            raise ValueError(f"the canary's share must be in (0, 1]; got {self.canary_share}")
        if self.settle_s < 0:
            raise ValueError(f"the settle time must be 0 (no check) or more seconds; got {self.settle_s}")

    @property
    def threshold(self) -> float:
        """``recovery_threshold``, resolved."""
        assert self.recovery_threshold is not None, "set in __post_init__"
        return self.recovery_threshold

    def recovered(self, quality: float) -> bool:
        """Whether a live primary metric of ``quality`` is as good as the threshold (higher or lower)."""
        return get_use_case(self.use_case).meets(quality, self.threshold)

    @property
    def at_least(self) -> str:
        """How a recovered quality compares with the threshold: ≥ (accuracy) or ≤ (an error rate)."""
        return "≥" if get_use_case(self.use_case).higher_is_better else "≤"
