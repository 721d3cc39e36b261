"""The preprocessing job (flink/preprocess_job.py) on the local Flink session cluster (see FlinkJobService).

It keeps no state but its read offsets, which it commits to its consumer
group: `up` submits it afresh, and it goes on from where the group stopped.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from closeloop.config import Settings
from closeloop.preprocessing.settings import PreprocessJobSettings
from closeloop.stack.services.flink_job import FlinkJobService

__all__ = ["PreprocessJobService"]


class PreprocessJobService(FlinkJobService):
    name = "preprocess-job"
    depends_on = ("kafka", "minio", "flink")
    resumes = False

    @property
    def job_file(self) -> Path:
        return self.layout.project / "flink" / "preprocess_job.py"

    @cached_property
    def job_settings(self) -> PreprocessJobSettings:
        shared = self.settings.model_dump(include=set(Settings.model_fields))
        return PreprocessJobSettings.load(**shared)

    @property
    def job_name(self) -> str:
        return self.job_settings.preprocess_job_name

    def missing(self) -> list[str]:
        missing = super().missing()
        if not self.job_settings.raw_inputs.exists():
            missing.append(
                f"the raw-input specs {self.job_settings.raw_inputs} "
                "(python -m training.usecases.raw_specs --write)"
            )
        return missing

    def job_environment(self) -> dict[str, str]:
        return {"CLOSELOOP_PREPROCESS_JOB_NAME": self.job_name}
