"""The real local stack, brought up once per test session (or reused if it is running).

Every test in this folder is marked `integration`; `pytest -m "not integration"`
runs the rest without any service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from closeloop.config import Settings, get_settings
from closeloop.stack.manager import LocalStack
from closeloop.stack.process import marked_processes

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[LocalStack]:
    """The local stack, healthy. Stopped at the end only if this session started it."""
    local = LocalStack(settings)
    before = {row.name for row in local.status() if row.running}
    local.up(report=lambda service, message: print(f"[stack] {service}: {message}"))
    yield local
    started = [name for name in local.services if name not in before]
    if started:
        local.down(started)
    if not before:
        # This session started the whole stack: stopping it must leave nothing behind.
        leftovers = marked_processes(str(local.layout.state))
        assert not leftovers, f"`down` left processes behind: {leftovers}"
