"""The gateway's settings: the shared ones plus what only the gateway needs."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr

from closeloop.config import Settings

__all__ = ["GatewaySettings", "get_gateway_settings"]


class GatewaySettings(Settings):
    """Read like every closeloop setting: ``CLOSELOOP_<NAME>``, then .env, then the default."""

    api_key: SecretStr | None = Field(
        default=None,
        description="Required in the X-API-Key header of write endpoints when set; open when unset.",
    )
    max_batch: int = Field(default=256, ge=1, description="Most instances one predict request may carry.")
    champion_alias: str = "champion"
    canary_share: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Share of a model's requests its `canary` version answers, if it has one; a "
        "closeloop.canary_share tag on the version overrides it.",
    )
    scores: bool = Field(
        default=False,
        description="Also return (and log) class probabilities; costs a second call into the model.",
    )
    models: list[str] = Field(
        default_factory=list,
        description="Models to load at start; empty: every registered model with a champion.",
    )
    reload_poll_s: float = Field(
        default=15.0, gt=0, description="How often to check the champion alias, besides model-update events."
    )
    registry_timeout_s: int = Field(
        default=10,
        ge=1,
        description="How long one call to the MLflow registry may take; a failed call is retried twice, "
        "then the load fails, is reported, and is tried again at the next poll.",
    )
    delivery_timeout_ms: int = Field(
        default=5000,
        ge=100,
        description="How long Kafka may take to acknowledge an event before it is spooled.",
    )
    spool_dir: Path | None = Field(default=None, description="Default: state_dir/gateway/spool.")
    spool_max_bytes: int = Field(
        default=1 << 30,
        ge=1 << 20,
        description="Most bytes the spool may hold; past it, write requests get 503 with Retry-After.",
    )
    max_event_bytes: int = Field(
        default=900_000,
        ge=1024,
        description="Largest event logged to Kafka (whose own limit is ~1 MB); a larger one gets 413.",
    )
    raw_inline_bytes: int = Field(
        default=256 * 1024,
        ge=0,
        description="A raw input (base64) longer than this is stored in MinIO and its event carries the URI.",
    )
    max_request_bytes: int = Field(
        default=16 << 20, ge=1024, description="Largest request body, on every endpoint; larger gets 413."
    )

    @property
    def spool(self) -> Path:
        return self.spool_dir or self.state / "gateway" / "spool"

    @property
    def model_cache(self) -> Path:
        """Where champion artifacts are downloaded to; a sibling of the spool."""
        return self.spool.parent / "models"


@lru_cache
def get_gateway_settings() -> GatewaySettings:
    """The gateway's settings as a FastAPI dependency; tests override it."""
    return GatewaySettings.load()
