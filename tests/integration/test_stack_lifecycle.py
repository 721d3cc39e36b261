"""`up`, `status` and `down` on a private stack: own state directory, own ports.

These start and stop real processes (Kafka and MinIO) beside the shared stack,
so they never disturb it.
"""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from closeloop.cli import app
from closeloop.errors import ServiceUnhealthyError, StackError
from closeloop.stack.manager import LocalStack
from closeloop.stack.process import marked_processes, port_owner
from tests.integration.conftest import PRIVATE_PORTS

PORTS = PRIVATE_PORTS


def test_up_status_down_leaves_no_process(private_stack: LocalStack) -> None:
    messages: list[tuple[str, str]] = []
    rows = private_stack.up(["kafka", "minio"], report=lambda s, m: messages.append((s, m)))
    assert {r.name: r.health.ok for r in rows} == {"kafka": True, "minio": True}
    pids = {r.name: r.ids for r in rows}
    assert all(pids.values())
    assert ("kafka", "starting") in messages

    # A second `up` is a no-op: same processes, nothing started.
    messages.clear()
    again = private_stack.up(["kafka", "minio"], report=lambda s, m: messages.append((s, m)))
    assert {r.name: r.ids for r in again} == pids
    assert sorted(messages) == [("kafka", "already running"), ("minio", "already running")]

    runner = CliRunner()
    status = runner.invoke(app, ["status", "kafka", "minio"])
    assert status.exit_code == 0, status.output
    assert "19092" in status.output and "19000" in status.output

    private_stack.down()
    marker = str(private_stack.layout.state)
    assert marked_processes(marker) == []
    for port in PORTS.values():
        assert port_owner("127.0.0.1", port) is None, port
    stopped = runner.invoke(app, ["status", "kafka"])
    assert stopped.exit_code == 1
    assert "not running" in stopped.output


def test_a_taken_port_is_named_before_anything_starts(private_stack: LocalStack) -> None:
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", PORTS["minio_port"]))
        squatter.listen()
        with pytest.raises(StackError, match=r"minio cannot start: port 19000 is in use by pid \d+"):
            private_stack.up(["minio"])
    assert marked_processes(str(private_stack.layout.state)) == []


def test_a_service_that_dies_is_named_with_its_log(private_stack: LocalStack) -> None:
    # MinIO refuses a data directory that is a file, and exits.
    data = private_stack.layout.data("minio") / "data"
    data.parent.mkdir(parents=True)
    data.write_text("not a directory")
    with pytest.raises(ServiceUnhealthyError) as failure:
        private_stack.up(["minio"])
    assert failure.value.service == "minio"
    assert "exited" in failure.value.reason
    assert "minio.log" in failure.value.log_tail
