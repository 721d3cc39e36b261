"""Which version answers a request: the champion, or, for a share of the traffic, the canary.

A registered version with the ``canary`` alias serves ``CLOSELOOP_CANARY_SHARE``
of its model's requests (or the share in its ``closeloop.canary_share`` tag).
Which requests is decided by a stable hash of a request key: the client's id
(the ``X-Client-Id`` header) when it sends one, so that one client always sees
one version, else the request's first prediction id. The canary is loaded and
swapped like the champion (its own pool), and dropped as soon as its alias is
gone: a rolled-back canary stops serving at the next poll.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry

from closeloop.gateway.champions import ChampionPool, LoadedModel
from closeloop.gateway.reloader import ChampionWatcher
from closeloop.gateway.settings import GatewaySettings
from closeloop.kafka.consume import InvalidHandler

__all__ = ["CANARY_ALIAS", "SHARE_TAG", "CanaryRouter", "canary_share", "in_canary", "watched_canaries"]

_log = logging.getLogger("closeloop.gateway")

CANARY_ALIAS = "canary"
#: On a canary version: its share of the traffic, overriding CLOSELOOP_CANARY_SHARE.
SHARE_TAG = "closeloop.canary_share"
_SPAN = float(1 << 64)


def in_canary(key: str, share: float) -> bool:
    """Whether the request keyed ``key`` goes to the canary: for a share ``share`` of all keys,
    the same answer for the same key every time (and in every gateway replica)."""
    if share <= 0.0:
        return False
    if share >= 1.0:
        return True
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"closeloop-canary").digest()
    return int.from_bytes(digest, "big") / _SPAN < share


def canary_share(tags: Mapping[str, str], default: float) -> float:
    """The canary's share: its version's tag if it holds a number in [0, 1], else ``default``."""
    text = tags.get(SHARE_TAG)
    if text is None:
        return default
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        _log.warning("%s=%r is not a share in [0, 1]; the canary gets %s", SHARE_TAG, text, default)
        return default
    return share


class CanaryRouter:
    """Picks the version for a request from the champions' pool and the canaries' pool."""

    def __init__(self, canaries: ChampionPool, *, default_share: float) -> None:
        self.canaries = canaries
        self.default_share = default_share

    def canary_of(self, champion: LoadedModel) -> tuple[LoadedModel, float] | None:
        """The loaded canary of ``champion``'s model and its share; None if it has none but itself."""
        canary = self.canaries.get(champion.name)
        if canary is None or canary.version == champion.version:
            return None
        return canary, canary_share(canary.tags, self.default_share)

    def pick(self, champion: LoadedModel, key: str) -> LoadedModel:
        """The canary of ``champion``'s model if there is one (loaded) and ``key`` falls in its share."""
        found = self.canary_of(champion)
        if found is None:
            return champion
        canary, share = found
        return canary if in_canary(key, share) else champion


def watched_canaries(
    settings: GatewaySettings,
    *,
    registry: CollectorRegistry,
    cache: Path,
    metrics_prefix: str,
    name: str,
    on_invalid: InvalidHandler | None,
) -> tuple[CanaryRouter, ChampionWatcher]:
    """The canaries' pool behind a router, and the watcher that loads a canary when its alias is
    set (its event, or the registry poll) and drops it when the alias goes: the gateway's and
    stream inference's alike."""
    canaries = ChampionPool(
        tracking_uri=settings.mlflow_tracking_uri,
        alias=CANARY_ALIAS,
        registry=registry,
        cache=cache,
        scores=settings.scores,
        metrics_prefix=metrics_prefix,
        drop_when_gone=True,
    )
    watcher = ChampionWatcher.from_settings(
        canaries, settings, on_invalid=on_invalid, name=name, discover=True
    )
    return CanaryRouter(canaries, default_share=settings.canary_share), watcher
