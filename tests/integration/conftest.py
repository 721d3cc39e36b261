"""The real local stack, brought up once per test session (or reused if it is running).

Every test in this folder is marked `integration`; `pytest -m "not integration"`
runs the rest without any service.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from closeloop.config import get_settings
from closeloop.s3 import s3_client
from closeloop.stack.manager import LocalStack, log_tail
from closeloop.stack.process import ProcessRecord, alive, marked_processes
from closeloop.stack.settings import StackSettings, get_stack_settings

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)
    # End-to-end runs retrain shared models: after everything else (a stable sort keeps the rest in order).
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


@pytest.fixture(scope="session")
def settings() -> StackSettings:
    """The local stack's settings: the shared ones, which the tests' own clients use, and its ports."""
    return get_stack_settings()


#: What tests/conftest.py sets for the stack the session starts; a stack already running must have it.
TEST_SETTINGS = (
    "CLOSELOOP_RETRAIN_ROLLOUT",
    "CLOSELOOP_PROMOTION_WATCH_MINUTES",
    "CLOSELOOP_LIVE_POLL_S",
    "CLOSELOOP_WINDOW_S",
    "CLOSELOOP_SLIDING_WINDOW_S",
)


def _started_otherwise(stack: LocalStack) -> list[str]:
    """The test settings the running Airflow was started with other values of (its processes'
    environment), as `closeloop up` or `make demo --keep-running` leave it."""
    record = ProcessRecord.load(stack.layout.run, "airflow")
    for pid in alive(record) if record is not None else []:
        try:
            raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        env = dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
        return [
            f"{key}={env.get(key)!r} where the tests want {os.environ.get(key)!r}"
            for key in TEST_SETTINGS
            if env.get(key) != os.environ.get(key)
        ]
    return []


@pytest.fixture(scope="session")
def stack(settings: StackSettings) -> Iterator[LocalStack]:
    """The local stack, healthy. Stopped at the end only if this session started it."""
    local = LocalStack(settings)
    before = {row.name for row in local.status() if row.running}
    if before and (wrong := _started_otherwise(local)):
        # Its alert-driven retrains would go canary and wait for live traffic no test sends.
        pytest.exit(
            "the running stack was not started for the tests: Airflow has "
            + "; ".join(wrong)
            + ". Stop it (`closeloop down`) and run the tests again: they start it as they need it.",
            returncode=4,
        )
    local.up(report=lambda service, message: print(f"[stack] {service}: {message}"))
    yield local
    started = [name for name in local.services if name not in before]
    if started:
        local.down(started)
    if not before:
        # This session started the whole stack: stopping it must leave nothing behind.
        leftovers = marked_processes(str(local.layout.state))
        assert not leftovers, f"`down` left processes behind: {leftovers}"


def _live_processes(stack: LocalStack) -> dict[str, list[int]]:
    """The pids of each shared service whose recorded processes all run."""
    live = {}
    for name in stack.services:
        record = ProcessRecord.load(stack.layout.run, name)
        if record is not None and record.pids and len(alive(record)) == len(record.pids):
            live[name] = record.pids
    return live


@pytest.fixture(autouse=True)
def shared_stack_survives(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that leaves a shared service dead errors here, with its log; the next test gets it back.

    Without this, one dead process (a TaskManager, say) fails every later test
    by timeout, far from its cause and with no word of it.
    """
    if "stack" not in request.fixturenames:
        yield
        return
    stack: LocalStack = request.getfixturevalue("stack")
    before = _live_processes(stack)
    yield
    after = _live_processes(stack)
    dead = {name: pids for name, pids in before.items() if name not in after}
    if not dead:
        return
    logs = "\n".join(log_tail(stack.services[name], lines=60) for name in dead)
    # The short summary shows one line: the last error the logs hold goes on it.
    errors = [line for line in logs.splitlines() if " ERROR " in line or "Error" in line or "FATAL" in line]
    last_error = errors[-1].strip()[:300] if errors else "no error in the log tail"
    stack.up(report=lambda service, message: print(f"[stack] {service}: {message}"))
    left = ", ".join(f"{name} (pids {pids})" for name, pids in dead.items())
    pytest.fail(f"the test left {left} dead; {last_error}\n{logs}")


#: Ports of a private stack, beside the shared one.
PRIVATE_PORTS = {
    "kafka_port": 19092,
    "kafka_controller_port": 19093,
    "kafka_metrics_port": 19404,
    "minio_port": 19000,
    "minio_console_port": 19001,
}


@pytest.fixture
def private_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    """A second stack with its own state directory and ports; stopped after the test.

    For tests that must stop and start a service (Kafka, MinIO) without
    disturbing the shared stack. The environment points the CLI at it too.
    """
    for name, port in PRIVATE_PORTS.items():
        monkeypatch.setenv(f"CLOSELOOP_{name.upper()}", str(port))
    monkeypatch.setenv("CLOSELOOP_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    get_stack_settings.cache_clear()
    stack = LocalStack(StackSettings(_env_file=None))  # type: ignore[call-arg]
    yield stack
    stack.down()
    get_settings.cache_clear()
    get_stack_settings.cache_clear()


@pytest.fixture
def lake_prefix(settings: StackSettings) -> Iterator[str]:
    """A lake prefix of the test's own, emptied afterwards."""
    prefix = f"test-feedback-{uuid.uuid4().hex[:8]}"
    yield prefix
    s3 = s3_client(settings)
    for item in s3.list_objects(settings.lake_bucket, prefix=f"{prefix}/", recursive=True):
        s3.remove_object(settings.lake_bucket, item.object_name)


@pytest.fixture
def clean_champion(settings: StackSettings) -> str:
    """A digits champion trained on the base data alone."""
    from tests.integration.training.conftest import register_clean_champion

    return register_clean_champion(settings, "digits")
