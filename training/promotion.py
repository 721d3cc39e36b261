"""Aliases in the MLflow registry: who is champion, who was, who is on trial, and how to go back.

``champion`` is what the gateway serves. When a challenger passes the gate,
the version it replaces keeps the ``previous_champion`` alias, so a rollback
is one alias swap (``closeloop rollback MODEL``). Every move of the champion
publishes a model-update event, which the gateway and the streaming job act on.

A challenger can first be a ``canary``: the gateway gives it a share of the
traffic (closeloop.gateway.canary) until the live gate (training.live_gate)
promotes it or drops its alias. Both live verdicts, the canary's and the
watch's after a direct promotion, are kept as tags on the version.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from closeloop.errors import CloseloopError
from closeloop.events import ModelUpdateEvent
from closeloop.gateway.canary import CANARY_ALIAS, SHARE_TAG
from training.gate import GateDecision
from training.train import PROFILE_TAG

__all__ = [
    "CANARY",
    "CANARY_STARTED_TAG",
    "CHAMPION",
    "LIVE_PREFIX",
    "PREVIOUS",
    "ROLLOUT_TAG",
    "WATCH_PREFIX",
    "AliasMove",
    "PromotionError",
    "alias_version",
    "apply_decision",
    "champion",
    "conclude_canary",
    "conclude_watch",
    "model_tags",
    "model_update",
    "rollback",
    "start_canary",
    "verdict_tags",
]

_log = logging.getLogger(__name__)

CHAMPION = "champion"
PREVIOUS = "previous_champion"
CANARY = CANARY_ALIAS
#: On a canary: when it started serving its share (ISO, UTC).
CANARY_STARTED_TAG = "closeloop.canary.started"
#: On a registered model: its rollout policy ("canary" or "direct") for runs whose rollout is "auto".
ROLLOUT_TAG = "closeloop.rollout"
#: Tags of the canary phase's live verdict, and of the watch after a direct promotion.
LIVE_PREFIX = "closeloop.live"
WATCH_PREFIX = "closeloop.watch"


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


def model_tags(client: MlflowClient, model_name: str) -> dict[str, str]:
    """The registered model's tags (its policies: ROLLOUT_TAG, SHARE_TAG), or none if it does not exist."""
    try:
        return dict(client.get_registered_model(model_name).tags)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise


def champion(client: MlflowClient, model_name: str) -> tuple[str | None, datetime | None]:
    """The champion's version and when it was registered (trained), or (None, None) if there is none."""
    version = alias_version(client, model_name, CHAMPION)
    if version is None:
        return None, None
    created_ms = client.get_model_version(model_name, version).creation_timestamp
    return version, datetime.fromtimestamp(created_ms / 1000, UTC)


def model_update(
    client: MlflowClient, move: AliasMove, *, alias: str = CHAMPION, removed: bool = False
) -> ModelUpdateEvent:
    """The event announcing ``move`` of ``alias`` (for a canary: ``previous`` is the champion it
    is judged against; ``removed``: the alias was taken off the version), with the version's
    reference profile and training run."""
    version = client.get_model_version(move.model_name, move.version)
    return ModelUpdateEvent(
        model_name=move.model_name,
        version=move.version,
        alias=alias,
        previous_version=move.previous,
        reference_profile=version.tags.get(PROFILE_TAG),
        run_id=version.run_id,
        reason=move.reason,
        removed=removed,
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
    client: MlflowClient, model_name: str, version: str, decision: GateDecision, *, promote: bool = True
) -> AliasMove | None:
    """Record the gate's decision on the version; move the champion alias only if it passed
    (and ``promote``: a canary's live gate promotes it later)."""
    for key, value in decision.tags().items():
        client.set_model_version_tag(model_name, version, key, value)
    if not decision.passed:
        _log.info("%s version %s stays a challenger: %s", model_name, version, decision.reason)
        return None
    if not promote:
        return None
    return _move(client, model_name, version, f"gate passed: {decision.reason}")


def start_canary(
    client: MlflowClient, model_name: str, version: str, *, share: float | None = None
) -> datetime:
    """Make ``version`` the canary; returns when.

    Its share of the traffic is ``share``, else the registered model's
    SHARE_TAG, else the gateway's setting. A canary alias left by an earlier
    run moves to this version."""
    if share is None and SHARE_TAG in (tags := model_tags(client, model_name)):
        share = float(tags[SHARE_TAG])
    if share is not None:
        client.set_model_version_tag(model_name, version, SHARE_TAG, f"{share:g}")
    started = datetime.now(UTC)
    client.set_model_version_tag(model_name, version, CANARY_STARTED_TAG, started.isoformat())
    client.set_registered_model_alias(model_name, CANARY, version)
    _log.info("%s: version %s is the canary", model_name, version)
    return started


def verdict_tags(prefix: str, verdict: Mapping[str, Any]) -> dict[str, str]:
    """A live verdict (training.live_gate.LiveVerdict as a dict) as version tags under ``prefix``.

    ``canary`` is the version judged (the canary, or the watched champion),
    ``champion`` the one it was compared with."""
    passed = verdict.get("passed")
    tags = {
        f"{prefix}.passed": "undecided" if passed is None else str(bool(passed)).lower(),
        f"{prefix}.reason": str(verdict.get("reason", ""))[:5000],
        f"{prefix}.window_start": str(verdict.get("start") or ""),
        f"{prefix}.window_end": str(verdict.get("end") or ""),
    }
    # "version": the one judged; "compared_with": the one it was judged against.
    for role, name in (("canary", "version"), ("champion", "compared_with")):
        live = verdict.get(role) or {}
        if role == "champion":
            tags[f"{prefix}.compared_with"] = str(live.get("version", ""))
        for field in ("quality", "labeled", "windows", "p99_ms", "error_rate"):
            value = live.get(field)
            tags[f"{prefix}.{name}_{field}"] = "n/a" if value is None else f"{value:.6g}"
    return tags


def _tag(client: MlflowClient, model_name: str, version: str, tags: Mapping[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)


def conclude_canary(
    client: MlflowClient, model_name: str, version: str, verdict: Mapping[str, Any]
) -> AliasMove | None:
    """The end of ``version``'s canary phase: promoted if the live verdict passed it, else only its
    canary alias dropped (the champion never stopped serving). The verdict is tagged on the version."""
    _tag(client, model_name, version, verdict_tags(LIVE_PREFIX, verdict))
    move = None
    if verdict.get("passed") is True:
        move = _move(client, model_name, version, f"live gate passed: {verdict['reason']}")
    else:
        _log.info("%s: canary %s not promoted: %s", model_name, version, verdict.get("reason"))
    # After the champion moved: the gateway never has the version in neither pool.
    if alias_version(client, model_name, CANARY) == version:
        client.delete_registered_model_alias(model_name, CANARY)
    return move


def conclude_watch(
    client: MlflowClient, model_name: str, version: str, verdict: Mapping[str, Any], *, by: str
) -> AliasMove | None:
    """The end of the watch after ``version``'s promotion: rolled back (``rollback``, by ``by``) if
    the verdict failed it and it is still the champion. The verdict is tagged on the version."""
    _tag(client, model_name, version, verdict_tags(WATCH_PREFIX, verdict))
    if verdict.get("passed") is not False:
        return None
    if alias_version(client, model_name, CHAMPION) != version:
        _log.info("%s: %s is no longer the champion, nothing to roll back", model_name, version)
        return None
    return rollback(client, model_name, by=by)


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
