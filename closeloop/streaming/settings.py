"""The streaming job's settings: the shared ones plus windows, lateness and checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from closeloop.config import PROJECT_ROOT, UNSET_IF_EMPTY, Settings

__all__ = ["FeedbackJobSettings", "load_job_settings"]


class FeedbackJobSettings(Settings):
    """Read like every closeloop setting: ``CLOSELOOP_<NAME>``, then .env, then the default."""

    job_name: str = "closeloop-feedback"
    window_s: int = Field(default=60, ge=1, description="Tumbling window size; the demo uses seconds.")
    sliding_window_s: int = Field(
        default=300, ge=1, description="The longer sliding window; it slides by window_s."
    )
    out_of_orderness_s: int = Field(
        default=5, ge=0, description="How far behind the newest event an event may arrive and still count."
    )
    label_delay_s: int = Field(
        default=86_400, ge=1, description="How long after its prediction feedback may arrive (24 h)."
    )
    state_ttl_margin_s: int = Field(
        default=3_600,
        ge=0,
        description="How long, in processing time, a prediction id's state outlives the label delay "
        "(its time-to-live is the sum): feedback that reaches a job stopped or lagging longer than "
        "that is judged without its prediction, as unmatched.",
    )
    idle_timeout_s: int = Field(
        default=30,
        ge=0,
        description="A partition silent this long stops holding the watermark back; 0: never.",
    )
    max_clock_skew_s: int = Field(
        default=300,
        ge=0,
        description="An event stamped this much later than Kafka received it is refused: "
        "it would move the watermark past everything else.",
    )
    drift_sample_rate: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="Share of predictions (by a hash of their id) whose inputs go into drift; "
        "lower it at high rates to bound window state.",
    )
    profile_refresh_s: int = Field(
        default=60, ge=1, description="How often a cached reference profile is read again."
    )
    alert_rules: Path = Field(
        default=PROJECT_ROOT / "flink" / "alert_rules.yaml",
        description="The alert rules file, read at submission.",
    )
    checkpoint_interval_s: int = Field(default=10, ge=1)
    state_backend: Literal["rocksdb", "hashmap"] = Field(
        default="rocksdb",
        description="Where the job's state lives: RocksDB (off the heap, on disk; a day of predictions "
        "awaiting their labels fits) or the JVM heap (faster, for small state).",
    )
    checkpoints_dir: str | None = Field(
        default=None,
        description="Where the job keeps its checkpoints (file://, s3://), in a folder named after "
        "the job; unset: the cluster's execution.checkpointing.dir.",
    )
    job_parallelism: Annotated[int | None, UNSET_IF_EMPTY] = Field(
        default=None,
        ge=1,
        description="The job's parallelism; unset: the partitions of its input topics (the larger "
        "count), so that each source subtask reads its own.",
    )
    start_from_ms: int | None = Field(
        default=None,
        ge=0,
        description="Read the topics from this time (epoch ms) instead of the job's committed offsets "
        "(earliest for a new job): a short-lived job, like the demo's, skips the topics' history.",
    )

    @model_validator(mode="after")
    def _sliding_is_a_multiple(self) -> FeedbackJobSettings:
        if self.sliding_window_s % self.window_s or self.sliding_window_s <= self.window_s:
            raise ValueError(
                f"sliding_window_s ({self.sliding_window_s}) must be a larger multiple of "
                f"window_s ({self.window_s}): the sliding window slides by one tumbling window"
            )
        return self


def load_job_settings() -> FeedbackJobSettings:
    return FeedbackJobSettings.load()
