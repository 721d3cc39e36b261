"""Where `make setup` puts downloads and where the local stack keeps its state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from closeloop.config import PROJECT_ROOT
from closeloop.stack.settings import StackSettings

__all__ = ["Layout"]


@dataclass(frozen=True)
class Layout:
    """Paths derived from the settings; nothing here touches the disk."""

    home: Path
    state: Path
    project: Path = PROJECT_ROOT

    @classmethod
    def from_settings(cls, settings: StackSettings) -> Layout:
        return cls(home=settings.home.resolve(), state=settings.state.resolve())

    # Downloads and environments (`make setup`).
    @property
    def venv(self) -> Path:
        return self.home / "venv"

    @property
    def flink_venv(self) -> Path:
        return self.home / "flink-venv"

    @property
    def bin(self) -> Path:
        return self.home / "bin"

    @property
    def kafka_libs(self) -> Path:
        return self.home / "kafka" / "libs"

    @property
    def kafka_agents(self) -> Path:
        return self.home / "kafka" / "agents"

    @property
    def flink_connectors(self) -> Path:
        return self.home / "flink" / "connectors"

    @property
    def flink_plugins(self) -> Path:
        return self.home / "flink" / "plugins"

    @property
    def flink_functions(self) -> Path:
        """closeloop's JVM functions for the feedback job, built from flink/functions by `make setup`."""
        return self.home / "flink" / "functions" / "closeloop-flink-functions.jar"

    @property
    def pyflink(self) -> Path:
        """The PyFlink package, which carries a whole Flink distribution (bin/, lib/, plugins/)."""
        return self.flink_venv / "lib" / "python3.11" / "site-packages" / "pyflink"

    # Configuration that ships with the repo.
    @property
    def docker(self) -> Path:
        return self.project / "docker"

    # State (`closeloop up`).
    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def run(self) -> Path:
        return self.state / "run"

    def data(self, service: str) -> Path:
        return self.state / service
