"""Apache Kafka 4 in KRaft mode: one process that is both broker and controller."""

from __future__ import annotations

import base64
import glob
import uuid
from pathlib import Path
from string import Template

from closeloop.kafka.admin import KafkaAdminError, ensure_topics, list_topics
from closeloop.stack.service import Health, Service

__all__ = ["KafkaService", "new_cluster_id"]


def new_cluster_id() -> str:
    """A KRaft cluster id as `kafka-storage.sh random-uuid` makes one, without starting a JVM.

    Kafka ids are 16 random bytes in URL-safe base64 without padding; Kafka
    never hands out one that starts with "-", since it would read as a flag.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class KafkaService(Service):
    name = "kafka"

    @property
    def port(self) -> int:
        return self.settings.kafka_port

    @property
    def ports(self) -> list[int]:
        s = self.settings
        return [s.kafka_port, s.kafka_controller_port, s.kafka_metrics_port]

    @property
    def url(self) -> str:
        return self.settings.kafka_bootstrap

    def urls(self) -> dict[str, str]:
        return {
            "kafka": self.settings.kafka_bootstrap,
            "kafka metrics": f"http://{self.settings.host}:{self.settings.kafka_metrics_port}/metrics",
        }

    @property
    def _properties(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def _log_dirs(self) -> Path:
        return self.data_dir / "data"

    def _agent(self) -> str | None:
        jars = sorted(glob.glob(str(self.layout.kafka_agents / "jmx_prometheus_javaagent-*.jar")))
        return jars[-1] if jars else None

    def missing(self) -> list[str]:
        missing = []
        if not glob.glob(str(self.layout.kafka_libs / "kafka_2.13-*.jar")):
            missing.append(f"the Kafka broker jars in {self.layout.kafka_libs}")
        if self._agent() is None:
            missing.append(f"the Prometheus JMX agent in {self.layout.kafka_agents}")
        return missing

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            "java",
            f"-Xms{self.settings.kafka_heap}",
            f"-Xmx{self.settings.kafka_heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.layout.docker / 'kafka' / 'log4j2.yaml'}",
            f"-Dkafka.logs.dir={self.layout.logs}",
            "-cp",
            f"{self.layout.kafka_libs}/*",
            main,
            *args,
        ]

    def render_properties(self) -> str:
        """docker/kafka/server.properties with this stack's host, ports and paths."""
        template = Template((self.layout.docker / "kafka" / "server.properties").read_text())
        s = self.settings
        return template.substitute(
            host=s.host,
            port=s.kafka_port,
            controller_port=s.kafka_controller_port,
            log_dirs=self._log_dirs,
            partitions=s.kafka_partitions,
        )

    def prepare(self) -> None:
        super().prepare()
        self._properties.write_text(self.render_properties())
        # KRaft storage is formatted once; a formatted log dir holds meta.properties.
        if not (self._log_dirs / "meta.properties").exists():
            cluster_id = self.data_dir / "cluster-id"
            if not cluster_id.exists():
                cluster_id.write_text(new_cluster_id())
            self.run_once(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "--ignore-formatted",
                    "--cluster-id",
                    cluster_id.read_text().strip(),
                    "--config",
                    str(self._properties),
                ),
                what="formatting KRaft storage",
            )

    def command(self) -> list[str]:
        exporter = self.layout.docker / "kafka" / "jmx-exporter.yaml"
        listen = f"{self.settings.host}:{self.settings.kafka_metrics_port}"
        cmd = self._java("kafka.Kafka", str(self._properties))
        # The agent must come before the main class, among the JVM options.
        cmd.insert(1, f"-javaagent:{self._agent()}={listen}:{exporter}")
        return cmd

    def scrape_targets(self) -> dict[str, list[str]]:
        return {"kafka": [f"{self.settings.host}:{self.settings.kafka_metrics_port}"]}

    def probe(self) -> Health:
        try:
            topics = list_topics(self.settings.kafka_bootstrap, timeout=2.0)
        except KafkaAdminError as exc:
            return Health(False, str(exc))
        return Health(True, f"{len(topics)} topics")

    def provision(self) -> None:
        ensure_topics(
            self.settings.kafka_bootstrap,
            self.settings.topics.all(),
            partitions=self.settings.kafka_partitions,
        )
