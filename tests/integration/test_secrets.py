"""No secret in a log, in `closeloop status`, or in a file of the state directory others can read."""

from __future__ import annotations

import stat

from typer.testing import CliRunner

from closeloop.cli import app
from closeloop.config import Settings
from closeloop.gateway.settings import GatewaySettings
from closeloop.stack.manager import LocalStack

#: Folders of service data (Kafka's log segments, objects, checkpoints, TSDB): events and
#: objects, not configuration or logs.
DATA = ("kafka/data", "minio/data", "prometheus/data", "flink/checkpoints", "flink/savepoints")


def configured_secrets(settings: Settings) -> list[str]:
    found = [settings.s3_secret_key.get_secret_value()]
    api_key = GatewaySettings.load().api_key
    if api_key is not None:
        found.append(api_key.get_secret_value())
    return found


def test_secrets_are_in_no_log_and_only_in_files_of_mode_0600(stack: LocalStack, settings: Settings) -> None:
    state = stack.layout.state
    secrets = [s.encode() for s in configured_secrets(settings)]
    logged, readable, private = [], [], []
    for path in state.rglob("*"):
        relative = path.relative_to(state).as_posix()
        if not path.is_file() or path.is_symlink() or relative.startswith(DATA):
            continue
        if path.stat().st_size > 64 << 20:
            continue
        content = path.read_bytes()
        if not any(secret in content for secret in secrets):
            continue
        if relative.startswith("logs/") or path.suffix in (".log", ".out", ".err"):
            logged.append(relative)
        elif path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            readable.append(f"{relative} ({stat.filemode(path.stat().st_mode)})")
        else:
            private.append(relative)
    assert not logged, f"a secret is written in these logs: {logged}"
    assert not readable, f"files holding a secret that others can read: {readable}"
    # The check found what it looks for: Flink's config must hold the S3 secret (its S3 filesystem
    # reads it from there), privately.
    assert "flink/conf/config.yaml" in private


def test_status_shows_no_secret(stack: LocalStack, settings: Settings) -> None:
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code in (0, 1), result.output
    assert result.output.strip()
    for secret in configured_secrets(settings):
        assert secret not in result.output
