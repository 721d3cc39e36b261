"""The JVM functions' pure logic, called from Python through io.closeloop.flink.Twin.

The jar is built by `make setup` (flink/functions/pom.xml) into
``$CLOSELOOP_HOME/flink/functions``; these tests compare each function with its
Python twin on the same inputs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from closeloop.config import PROJECT_ROOT

__all__ = ["FUNCTIONS_JAR", "JvmTwin", "jvm"]

FUNCTIONS_JAR = PROJECT_ROOT / ".local" / "flink" / "functions" / "closeloop-flink-functions.jar"


class JvmTwin:
    """One long-lived `java io.closeloop.flink.Twin`: a call is a line out and a line back."""

    def __init__(self, jar: Path, classpath: list[Path] | None = None) -> None:
        """``classpath``: more jars, for the functions that need Flink's own classes."""
        self._process = subprocess.Popen(
            ["java", "-cp", ":".join(map(str, [jar, *(classpath or [])])), "io.closeloop.flink.Twin"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def call(self, function: str, *args: str | None) -> object:
        assert self._process.stdin and self._process.stdout
        self._process.stdin.write(json.dumps([function, *args]) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the JVM twin exited on {function}{args!r:.200}")
        return json.loads(line)

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        self._process.wait(timeout=30)


@pytest.fixture(scope="session")
def jvm() -> Iterator[JvmTwin]:
    import os

    home = os.environ.get("CLOSELOOP_HOME")
    jar = Path(home) / "flink" / "functions" / FUNCTIONS_JAR.name if home else FUNCTIONS_JAR
    if not jar.exists() or shutil.which("java") is None:
        pytest.fail(f"{jar} is missing: `make setup` builds it (needs Java 17 and Maven)")
    twin = JvmTwin(jar)
    yield twin
    twin.close()
