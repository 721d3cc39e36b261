"""Reference profiles: what a model version's inputs and outputs looked like when it was trained.

A profile holds, per input feature and for the predictions, the bins and the
share of the training data in each. Training writes it; the streaming job
reads it to measure drift. It lives in the lake bucket at
``{profiles_prefix}/{model_name}/{version}.json``; model-update events carry
that URI.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from minio import Minio
from minio.error import S3Error
from pydantic import BaseModel, ConfigDict, Field, model_validator

_log = logging.getLogger(__name__)

__all__ = [
    "OUTPUT",
    "Bins",
    "ReferenceProfile",
    "build_profile",
    "category",
    "load_profile",
    "profile_key",
    "save_profile",
]

OUTPUT = "__output__"


class Bins(BaseModel):
    """Numeric bins, cut at ``cuts`` (k-1 points, k bins, the outer two open-ended),
    or categories (k named values and one more bin for anything else)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["numeric", "categorical"]
    cuts: list[float] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list, description="JSON text of each value.")
    proportions: list[float]

    @model_validator(mode="after")
    def _consistent(self) -> Bins:
        expected = len(self.cuts) + 1 if self.kind == "numeric" else len(self.categories) + 1
        if len(self.proportions) != expected:
            raise ValueError(f"{self.kind} bins need {expected} proportions, got {len(self.proportions)}")
        if self.kind == "numeric" and any(b <= a for a, b in zip(self.cuts, self.cuts[1:], strict=False)):
            raise ValueError("cuts must increase strictly")
        if abs(sum(self.proportions) - 1.0) > 1e-6:
            raise ValueError(f"proportions sum to {sum(self.proportions)}, not 1")
        return self

    def assign(self, values: Sequence[Any]) -> np.ndarray:
        """The bin index of each value."""
        if self.kind == "numeric":
            return np.searchsorted(np.asarray(self.cuts), np.asarray(values, dtype=np.float64), side="right")
        index = {name: i for i, name in enumerate(self.categories)}
        other = len(self.categories)
        return np.array([index.get(category(v), other) for v in values], dtype=np.int64)

    def counts(self, values: Sequence[Any]) -> np.ndarray:
        return np.bincount(self.assign(values), minlength=len(self.proportions)).astype(np.float64)


class ReferenceProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str
    model_version: str
    rows: int
    features: dict[str, Bins]
    output: Bins | None = None

    def columns(self) -> dict[str, Bins]:
        """Every binned column: the features, then the predictions as ``__output__``."""
        return {**self.features, **({OUTPUT: self.output} if self.output else {})}


def category(value: Any) -> str:
    """A categorical value as JSON text; numpy scalars as the plain values they hold."""
    return json.dumps(value.item() if isinstance(value, np.generic) else value)


def _numeric_bins(values: np.ndarray, bins: int) -> Bins:
    cuts = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(cuts, values, side="right"), minlength=len(cuts) + 1)
    return Bins(kind="numeric", cuts=cuts.tolist(), proportions=(counts / counts.sum()).tolist())


def _categorical_bins(values: Sequence[Any]) -> Bins:
    labels = sorted({category(v) for v in values})
    index = {label: i for i, label in enumerate(labels)}
    counts = np.bincount([index[category(v)] for v in values], minlength=len(labels) + 1)
    return Bins(kind="categorical", categories=labels, proportions=(counts / counts.sum()).tolist())


def build_profile(
    model_name: str,
    model_version: str,
    features: Mapping[str, Sequence[float]],
    outputs: Sequence[Any] | None = None,
    *,
    bins: int = 10,
    categorical_output: bool = True,
) -> ReferenceProfile:
    """Quantile bins of each numeric feature, and of the outputs (categories, or quantiles)."""
    columns = {
        name: _numeric_bins(np.asarray(values, dtype=np.float64), bins) for name, values in features.items()
    }
    output = None
    if outputs is not None:
        output = (
            _categorical_bins(outputs)
            if categorical_output
            else _numeric_bins(np.asarray(outputs, dtype=np.float64), bins)
        )
    rows = len(next(iter(features.values()))) if features else len(outputs or [])
    return ReferenceProfile(
        model_name=model_name, model_version=model_version, rows=rows, features=columns, output=output
    )


def profile_key(prefix: str, model_name: str, model_version: str) -> str:
    return f"{prefix.strip('/')}/{model_name}/{model_version}.json"


def save_profile(client: Minio, bucket: str, prefix: str, profile: ReferenceProfile) -> str:
    """Write the profile; returns its s3:// URI."""
    key = profile_key(prefix, profile.model_name, profile.model_version)
    data = profile.model_dump_json().encode()
    client.put_object(bucket, key, io.BytesIO(data), len(data), content_type="application/json")
    return f"s3://{bucket}/{key}"


def load_profile(
    client: Minio, bucket: str, prefix: str, model_name: str, model_version: str
) -> ReferenceProfile | None:
    """The profile of a model version, or None if none was written."""
    try:
        response = client.get_object(bucket, profile_key(prefix, model_name, model_version))
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchBucket"):
            return None
        raise
    try:
        return ReferenceProfile.model_validate_json(response.read())
    finally:
        response.close()
        response.release_conn()


class ProfileCache:
    """Reference profiles by model version, read again every ``refresh_s`` seconds.

    So a profile written after the job started (or rewritten) is picked up
    without a restart, and a version without one is not asked for on every
    window. If reading fails, the last profile read stays in use.
    """

    def __init__(
        self,
        load: Callable[[str, str], ReferenceProfile | None],
        refresh_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load, self._refresh_s, self._clock = load, refresh_s, clock
        self._entries: dict[tuple[str, str], tuple[float, ReferenceProfile | None]] = {}

    def get(self, model_name: str, model_version: str) -> ReferenceProfile | None:
        key = (model_name, model_version)
        cached = self._entries.get(key)
        if cached is not None and self._clock() - cached[0] < self._refresh_s:
            return cached[1]
        try:
            profile = self._load(model_name, model_version)
        except Exception:  # the lake being away must not stop the metrics
            _log.exception("cannot read the reference profile of %s version %s", model_name, model_version)
            profile = cached[1] if cached else None
        self._entries[key] = (self._clock(), profile)
        return profile
