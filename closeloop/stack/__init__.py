"""The local stack: every real service on one machine, without Docker.

Its names load on first use: deployed code imports closeloop.stack.settings
(for the local defaults of its endpoints) without the stack's manager and
services, whose dependencies a Flink worker's environment lacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from closeloop.stack.manager import LocalStack, ServiceStatus

__all__ = ["LocalStack", "ServiceStatus"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from closeloop.stack import manager

        return getattr(manager, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
