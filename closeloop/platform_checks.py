"""Checks that the platform holds what closeloop needs: topics, buckets, a reachable registry.

Each check raises PlatformCheckError naming what is missing and where; the
`platform_check` DAG runs them from Airflow's workers.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from closeloop.errors import CloseloopError

__all__ = ["PlatformCheckError", "check_buckets", "check_mlflow", "check_topics"]


class PlatformCheckError(CloseloopError):
    """The platform lacks something closeloop needs."""


def check_topics(present: Iterable[str], expected: Iterable[str], *, where: str) -> list[str]:
    """The expected topics, sorted; raises if one is not among ``present``."""
    present = set(present)
    missing = sorted(set(expected) - present)
    if missing:
        raise PlatformCheckError(f"Kafka at {where} lacks topics {missing}; `closeloop up` creates them")
    return sorted(expected)


def check_buckets(present: Iterable[str], expected: Iterable[str], *, where: str) -> list[str]:
    """The expected buckets, sorted; raises if one is not among ``present``."""
    missing = sorted(set(expected) - set(present))
    if missing:
        raise PlatformCheckError(f"S3 at {where} lacks buckets {missing}; `closeloop up` creates them")
    return sorted(expected)


def check_mlflow(tracking_uri: str, *, timeout: float = 10.0) -> str:
    """The tracking server's version; raises if it does not answer healthy."""
    try:
        health = httpx.get(f"{tracking_uri}/health", timeout=timeout)
        version = httpx.get(f"{tracking_uri}/version", timeout=timeout)
    except httpx.HTTPError as exc:
        raise PlatformCheckError(f"MLflow at {tracking_uri} is unreachable: {exc}") from exc
    if not (health.is_success and version.is_success):
        raise PlatformCheckError(f"MLflow at {tracking_uri} answered HTTP {health.status_code}")
    return version.text.strip()
