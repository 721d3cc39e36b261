"""The process's own resource metrics (CPU, memory, open files, GC) in a service's registry."""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)

__all__ = ["register_process_metrics"]


def register_process_metrics(registry: CollectorRegistry) -> None:
    """``process_*`` (CPU seconds, resident memory, open fds), ``python_gc_*`` and ``python_info``.

    prometheus_client registers these in its global registry only; closeloop's
    services keep a registry each (tests build many), so they are added here.
    """
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    if GC_COLLECTOR is not None:  # absent on interpreters without gc.callbacks
        GCCollector(registry=registry)
