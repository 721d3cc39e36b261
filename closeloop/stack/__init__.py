"""The local stack: every real service on one machine, without Docker."""

from closeloop.stack.manager import LocalStack, ServiceStatus

__all__ = ["LocalStack", "ServiceStatus"]
