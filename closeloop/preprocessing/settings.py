"""The preprocessing job's settings: the shared ones plus its name, specs and pace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from closeloop.config import PROJECT_ROOT, UNSET_IF_EMPTY, Settings

__all__ = ["PreprocessJobSettings"]


class PreprocessJobSettings(Settings):
    """Read like every closeloop setting: ``CLOSELOOP_<NAME>``, then .env, then the default."""

    preprocess_job_name: str = "closeloop-preprocess"
    raw_inputs: Path = Field(
        default=PROJECT_ROOT / "flink" / "raw_inputs.json",
        description="What each use case's model takes (generated: python -m training.usecases.raw_specs "
        "--write), read at submission.",
    )
    preprocess_parallelism: Annotated[int | None, UNSET_IF_EMPTY] = Field(
        default=None,
        ge=1,
        description="The job's parallelism; unset: the partitions of the raw topic.",
    )
    preprocess_checkpoint_interval_s: int = Field(
        default=10, ge=1, description="How often the job commits its read offsets (at least once)."
    )
    preprocess_python_mode: Literal["thread", "process"] = Field(
        default="thread",
        description="Where the per-event Python runs: in the TaskManager's JVM (thread: no copy of "
        "each file to a worker and back; one interpreter, so one event at a time per TaskManager) or "
        "in a Python worker per subtask (process: isolated, but each file crosses gRPC twice).",
    )
    preprocess_bundle_ms: int = Field(
        default=20,
        ge=1,
        description="How long the job buffers raw events before its Python function takes them: "
        "a bound on the latency it adds.",
    )
