"""The demo's own run of the streaming feedback job: windows of seconds, reading from the demo's start.

The stack's job keeps its one-minute windows and its checkpoints; the demo
submits the same job file to the same Flink cluster under another name, so
neither disturbs the other's state, and cancels it when it ends.
"""

from __future__ import annotations

from pathlib import Path

from closeloop.stack.services.feedback_job import FeedbackJobService

__all__ = ["DemoFeedbackJob"]


class DemoFeedbackJob(FeedbackJobService):
    name = "demo-feedback-job"

    def __init__(self, *args: object, window_s: int, start_from_ms: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.window_s = window_s
        self.start_from_ms = start_from_ms

    @property
    def job_name(self) -> str:
        return "closeloop-demo-feedback"

    def resume_from(self) -> Path | None:
        return None  # every demo starts from its own start time, never from an old run's state

    def environment(self) -> dict[str, str]:
        return {
            **super().environment(),
            "CLOSELOOP_JOB_NAME": self.job_name,
            "CLOSELOOP_WINDOW_S": str(self.window_s),
            # The sliding window is judged by no rule; six windows show the trend.
            "CLOSELOOP_SLIDING_WINDOW_S": str(6 * self.window_s),
            # The gateway stamps feedback when it arrives: the streams are nearly in order.
            "CLOSELOOP_OUT_OF_ORDERNESS_S": "1",
            "CLOSELOOP_IDLE_TIMEOUT_S": str(max(2 * self.window_s, 5)),
            # The lake is written on checkpoints: an alert's retrain counts the labels there.
            "CLOSELOOP_CHECKPOINT_INTERVAL_S": str(min(self.window_s, 2)),
            "CLOSELOOP_STATE_BACKEND": "hashmap",
            "CLOSELOOP_START_FROM_MS": str(self.start_from_ms),
        }
