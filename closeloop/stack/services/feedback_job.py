"""The streaming feedback job on the local Flink session cluster (see FlinkJobService).

Its checkpoints stay behind: the next `up` resumes from the latest one, after a
`down` as after a crash of the whole cluster.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from closeloop.config import Settings
from closeloop.stack.services.flink_job import FlinkJobService
from closeloop.streaming.settings import FeedbackJobSettings

__all__ = ["FeedbackJobService"]


class FeedbackJobService(FlinkJobService):
    name = "feedback-job"

    @property
    def job_file(self) -> Path:
        return self.layout.project / "flink" / "feedback_job.py"

    @cached_property
    def job_settings(self) -> FeedbackJobSettings:
        """The settings the job is submitted with: the stack's shared ones (the endpoints, topics and
        buckets this service was given), plus the job's own from ``CLOSELOOP_*`` and the file."""
        shared = self.settings.model_dump(include=set(Settings.model_fields))
        return FeedbackJobSettings.load(**shared)

    @property
    def job_name(self) -> str:
        return self.job_settings.job_name

    @property
    def checkpoints_dir(self) -> str:
        """Where the job keeps its checkpoints: the setting, or the local cluster's folder."""
        return self.job_settings.checkpoints_dir or super().checkpoints_dir

    def job_environment(self) -> dict[str, str]:
        # Told the name and the checkpoints this service looks for it by.
        return {"CLOSELOOP_JOB_NAME": self.job_name, "CLOSELOOP_CHECKPOINTS_DIR": self.checkpoints_dir}
