"""Aliases in the MLflow registry: who is champion, who was, and how to go back.

``champion`` is what the gateway serves. When a challenger passes the gate,
the version it replaces keeps the ``previous_champion`` alias, so a rollback
is one alias swap (``closeloop rollback MODEL``). Every move publishes a
model-update event, which the gateway and the streaming job act on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from closeloop.errors import CloseloopError
from closeloop.events import ModelUpdateEvent
from training.gate import GateDecision
from training.train import PROFILE_TAG

__all__ = [
    "CHAMPION",
    "PREVIOUS",
    "AliasMove",
    "PromotionError",
    "alias_version",
    "apply_decision",
    "champion",
    "model_update",
    "rollback",
]

_log = logging.getLogger(__name__)

CHAMPION = "champion"
PREVIOUS = "previous_champion"


class PromotionError(CloseloopError):
    """An alias cannot be moved: no such model, no previous champion…"""


@dataclass(frozen=True)
class AliasMove:
    """The champion alias moved from ``previous`` (None: there was none) to ``version``."""

    model_name: str
    version: str
    previous: str | None
    reason: str


def alias_version(client: MlflowClient, model_name: str, alias: str) -> str | None:
    """The version ``alias`` points at, or None if it points nowhere (or the model does not exist)."""
    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def champion(client: MlflowClient, model_name: str) -> tuple[str | None, datetime | None]:
    """The champion's version and when it was registered (trained), or (None, None) if there is none."""
    version = alias_version(client, model_name, CHAMPION)
    if version is None:
        return None, None
    created_ms = client.get_model_version(model_name, version).creation_timestamp
    return version, datetime.fromtimestamp(created_ms / 1000, UTC)


def model_update(client: MlflowClient, move: AliasMove) -> ModelUpdateEvent:
    """The event announcing ``move``, with the new champion's reference profile and training run."""
    version = client.get_model_version(move.model_name, move.version)
    return ModelUpdateEvent(
        model_name=move.model_name,
        version=move.version,
        alias=CHAMPION,
        previous_version=move.previous,
        reference_profile=version.tags.get(PROFILE_TAG),
        run_id=version.run_id,
        reason=move.reason,
    )


def _move(client: MlflowClient, model_name: str, version: str, reason: str) -> AliasMove:
    previous = alias_version(client, model_name, CHAMPION)
    # previous_champion first: a reader never sees the old champion without an alias.
    if previous is not None and previous != version:
        client.set_registered_model_alias(model_name, PREVIOUS, previous)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    _log.info("%s: champion %s -> %s (%s)", model_name, previous, version, reason)
    return AliasMove(model_name=model_name, version=version, previous=previous, reason=reason)


def apply_decision(
    client: MlflowClient, model_name: str, version: str, decision: GateDecision
) -> AliasMove | None:
    """Record the gate's decision on the version; move the champion alias only if it passed."""
    for key, value in decision.tags().items():
        client.set_model_version_tag(model_name, version, key, value)
    if not decision.passed:
        _log.info("%s version %s stays a challenger: %s", model_name, version, decision.reason)
        return None
    return _move(client, model_name, version, f"gate passed: {decision.reason}")


#: On the version a rollback made champion again: who did it, when, and from which version.
ROLLBACK_TAG = "closeloop.rollback"


def rollback(client: MlflowClient, model_name: str, *, by: str | None = None) -> AliasMove:
    """Make the previous champion the champion again; the demoted one becomes the previous.

    So a second rollback undoes the first. ``by`` (a user) is recorded on the
    version, in its ROLLBACK_TAG, and in the move's reason.
    """
    previous = alias_version(client, model_name, PREVIOUS)
    if previous is None:
        raise PromotionError(f"{model_name} has no {PREVIOUS!r} alias: nothing to roll back to")
    current = alias_version(client, model_name, CHAMPION)
    client.set_registered_model_alias(model_name, CHAMPION, previous)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    reason = "rollback" if by is None else f"rollback by {by}"
    if by is not None:
        when = datetime.now(UTC).isoformat(timespec="seconds")
        client.set_model_version_tag(
            model_name, previous, ROLLBACK_TAG, f"{reason} at {when}, from {current}"
        )
    _log.info("%s: rolled back champion %s -> %s (%s)", model_name, current, previous, reason)
    return AliasMove(model_name=model_name, version=previous, previous=current, reason=reason)
