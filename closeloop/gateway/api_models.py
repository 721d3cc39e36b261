"""The gateway's HTTP request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from closeloop.events.types import Identifier, ModelName

__all__ = [
    "BatchPrediction",
    "FeedbackAccepted",
    "FeedbackIn",
    "ModelInfo",
    "PredictRequest",
    "Prediction",
    "SinglePrediction",
]


class PredictRequest(BaseModel):
    """One input as ``inputs``, or a batch as ``instances``; each maps feature names to values."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"inputs": {"pixel_0": 0.0, "pixel_1": 5.0}}, {"instances": [{"pixel_0": 0.0}]}]
        },
    )

    inputs: dict[str, Any] | None = None
    instances: list[dict[str, Any]] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictRequest:
        if (self.inputs is None) == (self.instances is None):
            raise ValueError("give exactly one of `inputs` (one input) or `instances` (a batch)")
        return self


class Prediction(BaseModel):
    prediction_id: str
    output: JsonValue
    scores: dict[str, float] | None = None


#: Which alias answered: the champion, or the canary for its share of the requests.
ServedAs = Literal["champion", "canary"]


class SinglePrediction(Prediction):
    model_name: str
    model_version: str
    served_as: ServedAs = "champion"
    latency_ms: float


class BatchPrediction(BaseModel):
    model_name: str
    model_version: str
    served_as: ServedAs = "champion"
    latency_ms: float = Field(description="Model time for the whole batch; each prediction waited this long.")
    predictions: list[Prediction]


class FeedbackIn(BaseModel):
    """Ground truth or a correction for a prediction the gateway served."""

    model_config = ConfigDict(extra="forbid")

    prediction_id: Identifier
    ground_truth: JsonValue
    source: str = Field(default="user", max_length=64)
    model_name: ModelName | None = Field(
        default=None, description="If given and served here, `ground_truth` is checked against its task."
    )
    ts: datetime | None = Field(default=None, description="When it was observed; default: now.")


class FeedbackAccepted(BaseModel):
    accepted: int
    feedback_ids: list[str]


class ModelInfo(BaseModel):
    name: str
    version: str
    task: str
    features: int
    loaded_at: datetime
    canary: str | None = Field(default=None, description="The canary version, if one answers a share.")
    canary_share: float | None = None
