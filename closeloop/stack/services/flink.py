"""A Flink session cluster from the PyFlink package's own bin/start-cluster.sh.

The PyFlink wheel carries a whole Flink distribution. The cluster runs it as
is, pointed by Flink's own environment variables at a conf dir, a lib dir (its
jars plus the pinned connectors) and a plugins dir (the Prometheus reporter
and the S3 filesystem) assembled in the state directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import yaml

from closeloop.errors import StackError
from closeloop.flink_config import merge, render_config
from closeloop.private_files import write_private
from closeloop.stack.class_sharing import ClassSharing
from closeloop.stack.process import ProcessRecord, stop
from closeloop.stack.service import Health, Service, http_probe

__all__ = ["FlinkService"]

_IDENT = "closeloop"  # FLINK_IDENT_STRING: names the pid and log files.
_DAEMONS = ("standalonesession", "taskexecutor")


class FlinkService(Service):
    name = "flink"
    depends_on = ("minio",)

    @property
    def port(self) -> int:
        return self.settings.flink_rest_port

    @property
    def ports(self) -> list[int]:
        s = self.settings
        low, high = (int(p) for p in s.flink_metrics_ports.split("-"))
        return [s.flink_rest_port, s.flink_rpc_port, *range(low, high + 1)]

    @property
    def conf_dir(self) -> Path:
        return self.data_dir / "conf"

    @property
    def lib_dir(self) -> Path:
        return self.data_dir / "lib"

    @property
    def plugins_dir(self) -> Path:
        return self.data_dir / "plugins"

    @property
    def log_dir(self) -> Path:
        return self.layout.logs / "flink"

    @property
    def tmp_dir(self) -> Path:
        """The cluster's working directories (``io.tmp.dirs``): blobs, RocksDB, Python files.

        Each TaskManager makes one of several hundred MB there and removes it only
        when it stops cleanly, never after a kill; in the state folder, not /tmp,
        so that `up` can clear what the last cluster left.
        """
        return self.data_dir / "tmp"

    @property
    def flink_bin(self) -> Path:
        return self.layout.pyflink / "bin"

    @property
    def client_class_sharing(self) -> ClassSharing:
        """The `flink run` JVM's class archive: its java, as bin/flink picks it, and lib/'s jars."""
        java_home = os.environ.get("JAVA_HOME")
        return ClassSharing(
            folder=self.data_dir / "class-sharing",
            classpath=sorted(self.lib_dir.glob("*.jar")),
            java=str(Path(java_home) / "bin" / "java") if java_home else "java",
        )

    def log_files(self) -> list[Path]:
        return [self.log_path, *sorted(self.log_dir.glob("*.log"))]

    def missing(self) -> list[str]:
        missing = []
        if not (self.flink_bin / "start-cluster.sh").exists():
            missing.append(f"PyFlink in the virtualenv {self.layout.flink_venv}")
        if not list(self.layout.flink_connectors.glob("flink-sql-connector-kafka-*.jar")):
            missing.append(f"the Kafka SQL connector in {self.layout.flink_connectors}")
        if not list((self.layout.flink_plugins / "s3-fs-hadoop").glob("*.jar")):
            missing.append(f"the S3 filesystem plugin in {self.layout.flink_plugins}")
        if not self.layout.flink_functions.exists():
            missing.append(f"closeloop's Flink functions, {self.layout.flink_functions}")
        return missing

    def scrape_targets(self) -> dict[str, list[str]]:
        low, high = (int(p) for p in self.settings.flink_metrics_ports.split("-"))
        return {"flink": [f"{self.settings.host}:{p}" for p in range(low, high + 1)]}

    def prepare(self) -> None:
        super().prepare()
        self.stop_orphaned_workers()
        self._write_conf()
        self._link_dir(
            self.lib_dir,
            [
                *self.layout.pyflink.joinpath("lib").glob("*.jar"),
                # PyFlink's runtime (with its vendored Beam) once for the cluster, not
                # once per job: a job's class loader outlives it (Beam's threads and
                # caches), and ~4,000 classes per submission filled the metaspace.
                *self.layout.pyflink.joinpath("opt").glob("flink-python-*.jar"),
                *self.layout.flink_connectors.glob("*.jar"),
                self.layout.flink_functions,
            ],
        )
        self._link_dir(
            self.plugins_dir,
            [
                self.layout.pyflink / "plugins" / "metrics-prometheus",
                self.layout.flink_plugins / "s3-fs-hadoop",
            ],
        )

    def _write_conf(self) -> None:
        s = self.settings
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        ours = render_config(
            s,
            host=s.host,
            python=self.layout.flink_venv / "bin" / "python",
            checkpoint_dir=(self.data_dir / "checkpoints").as_uri(),
            savepoint_dir=(self.data_dir / "savepoints").as_uri(),
            template=self.layout.docker / "flink" / "config.yaml",
        )
        ours = merge(ours, {"io": {"tmp": {"dirs": str(self.tmp_dir)}}})
        # The distribution's own defaults (the JVM's --add-opens flags, for one)
        # stay, under ours: they belong to the Flink version, not to closeloop.
        defaults = yaml.safe_load((self.layout.pyflink / "conf" / "config.yaml").read_text())
        # It holds the S3 secret (Flink's filesystems read it from there only).
        write_private(self.conf_dir / "config.yaml", yaml.safe_dump(merge(defaults, ours)))
        (self.conf_dir / "masters").write_text(f"localhost:{s.flink_rest_port}\n")
        (self.conf_dir / "workers").write_text("localhost\n")
        # Flink's log4j configuration files are the distribution's own.
        for name in ("log4j.properties", "log4j-console.properties", "log4j-cli.properties"):
            target = self.conf_dir / name
            if not target.exists():
                target.symlink_to(self.layout.pyflink / "conf" / name)

    @staticmethod
    def _link_dir(folder: Path, entries: list[Path]) -> None:
        """Make ``folder`` hold exactly a symlink to each entry."""
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():
            stale.unlink()
        for entry in entries:
            (folder / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())

    def environment(self) -> dict[str, str]:
        return {
            **super().environment(),
            "PATH": f"{self.layout.flink_venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "FLINK_CONF_DIR": str(self.conf_dir),
            "FLINK_LIB_DIR": str(self.lib_dir),
            "FLINK_PLUGINS_DIR": str(self.plugins_dir),
            "FLINK_LOG_DIR": str(self.log_dir),
            "FLINK_PID_DIR": str(self.data_dir),
            "FLINK_IDENT_STRING": _IDENT,
        }

    def start(self) -> ProcessRecord:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        command = [str(self.flink_bin / "start-cluster.sh")]
        # flink-daemon.sh keeps the pids of older instances it finds alive in these
        # files; `up` starts Flink only when none of ours is, so old ones are stale.
        for daemon in _DAEMONS:
            self._pid_file(daemon).unlink(missing_ok=True)
        # Nothing of ours runs (see above): what is there was left by a killed cluster.
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir(parents=True)
        # start-cluster.sh daemonizes a JobManager and a TaskManager and returns.
        self.run_once(command, what="start-cluster.sh")
        pids = []
        for daemon in _DAEMONS:
            pid_file = self._pid_file(daemon)
            if not pid_file.exists():
                raise StackError(f"flink: start-cluster.sh wrote no {pid_file.name}; see {self.log_path}")
            pids.extend(int(line) for line in pid_file.read_text().split())
        return ProcessRecord(service=self.name, pids=pids, command=command)

    def terminate(self, record: ProcessRecord, *, report: Callable[[str], None]) -> None:
        super().terminate(record, report=report)
        if orphans := self.stop_orphaned_workers():
            report(f"stopped the Python workers of a TaskManager that died: {orphans}")

    def stop_orphaned_workers(self) -> list[int]:
        """Stop PyFlink's Python workers whose TaskManager died (a `kill -9`): they outlive it,
        adopted by init, and hold their memory until stopped. Their pids.

        Known by their command, the runner script of this stack's PyFlink: start-cluster.sh
        daemonizes the cluster, so its processes carry no stack marker.
        """
        runner = str(self.layout.pyflink / "bin" / "pyflink-udf-runner.sh")
        orphans = [
            proc
            for proc in psutil.process_iter(["ppid", "cmdline"])
            if proc.info["ppid"] == 1 and runner in (proc.info["cmdline"] or [])
        ]
        stop(orphans)
        return [p.pid for p in orphans]

    def submit_command(
        self, script: Path, *args: str, detached: bool = False, savepoint: Path | None = None
    ) -> list[str]:
        """`flink run -py SCRIPT ARGS…` against this cluster; run it with ``environment()``.

        ``savepoint``: a savepoint or retained checkpoint the job starts from.
        """
        command = [str(self.flink_bin / "flink"), "run"]
        if detached:
            command.append("--detached")
        if savepoint is not None:
            # Claimed: Flink deletes it once the new job's checkpoints subsume it.
            command += ["--fromSavepoint", str(savepoint), "--claimMode", "claim"]
        return [*command, "-py", str(script), *args]

    def _pid_file(self, daemon: str) -> Path:
        return self.data_dir / f"flink-{_IDENT}-{daemon}.pid"

    def _check(self, response: httpx.Response) -> str | None:
        if response.json().get("taskmanagers", 0) < 1:
            return "no TaskManager registered yet"
        return None

    def probe(self) -> Health:
        return http_probe(f"{self.url}/overview", check=self._check)

    def urls(self) -> dict[str, str]:
        return {"flink UI": self.url}
