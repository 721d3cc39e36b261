"""Stream inference's settings: the gateway's, plus the consumer's own."""

from __future__ import annotations

from pydantic import Field

from closeloop.gateway.settings import GatewaySettings

__all__ = ["InferenceSettings"]


class InferenceSettings(GatewaySettings):
    """The gateway's settings (the champion alias, the model cache, the registry's timeouts, the
    raw-input store) plus the consumer's own."""

    host: str = Field(default="127.0.0.1", description="Address /metrics is served on.")
    inference_port: int = Field(default=9106, description="Port /metrics is served on.")
    inference_group: str = Field(
        default="closeloop-inference", description="Consumer group: replicas in one group share the requests."
    )
    inference_batch: int = Field(default=256, ge=1, description="Most requests predicted in one model call.")
