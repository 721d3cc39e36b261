"""What each service would run and write, checked without starting anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from closeloop.config import PROJECT_ROOT, Settings
from closeloop.errors import SetupMissingError, StackError
from closeloop.stack.layout import Layout
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from closeloop.stack.services.flink import FlinkService
from closeloop.stack.services.kafka import KafkaService
from closeloop.stack.services.prometheus import SCRAPE_JOBS, PrometheusService


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The real home (what `make setup` installed), a private state directory.
    return Settings(_env_file=None, state_dir=tmp_path / "state", kafka_port=19092)  # type: ignore[call-arg]


@pytest.fixture
def layout(settings: Settings) -> Layout:
    return Layout.from_settings(settings)


def test_select_adds_dependencies_in_start_order(settings: Settings) -> None:
    stack = LocalStack(settings)
    assert [s.name for s in stack.select(["mlflow"], with_dependencies=True)] == ["minio", "mlflow"]
    assert [s.name for s in stack.select(["mlflow"], with_dependencies=False)] == ["mlflow"]
    assert [s.name for s in stack.select(["airflow"], with_dependencies=True)] == [
        "statsd-exporter",
        "airflow",
    ]
    assert len(stack.select(None, with_dependencies=False)) == len(stack.services)


def test_unknown_service_lists_the_known_ones(settings: Settings) -> None:
    with pytest.raises(StackError, match=r"unknown service 'zookeeper'.*kafka, minio"):
        LocalStack(settings).select(["zookeeper"], with_dependencies=True)


def test_up_without_setup_names_what_is_missing(tmp_path: Path) -> None:
    bare = Settings(_env_file=None, home=tmp_path / "empty-home")  # type: ignore[call-arg]
    expected = r"kafka cannot start, missing: the Kafka broker jars.*make setup"
    with pytest.raises(SetupMissingError, match=expected):
        LocalStack(bare).up(["kafka"])
    assert not (tmp_path / "empty-home" / "state" / "run").exists()


def test_kafka_properties_carry_the_configured_ports(settings: Settings, layout: Layout) -> None:
    properties = KafkaService(settings, layout).render_properties()
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:9093" in properties
    assert f"log.dirs={layout.state / 'kafka' / 'data'}" in properties
    assert "process.roles=broker,controller" in properties
    assert not [line for line in properties.splitlines() if "$" in line and not line.startswith("#")]


def test_kafka_loads_the_metrics_agent_before_the_main_class(settings: Settings, layout: Layout) -> None:
    command = KafkaService(settings, layout).command()
    agent = next(i for i, arg in enumerate(command) if arg.startswith("-javaagent:"))
    assert agent < command.index("kafka.Kafka")
    assert command[agent].split("=", 1)[1].startswith("127.0.0.1:9404:")
    assert "-Xmx512m" in command


def test_prometheus_gets_a_targets_file_for_every_job(settings: Settings, layout: Layout) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "docker" / "prometheus" / "prometheus.yml").read_text())
    jobs = {c["job_name"]: c["file_sd_configs"][0]["files"][0] for c in config["scrape_configs"]}
    assert set(jobs) == set(SCRAPE_JOBS)

    PrometheusService(settings, layout).prepare()
    folder = layout.state / "prometheus"
    targets = {job: json.loads((folder / path).read_text()) for job, path in jobs.items()}
    assert targets["kafka"][0]["targets"] == ["127.0.0.1:9404"]
    assert targets["flink"][0]["targets"] == ["127.0.0.1:9249", "127.0.0.1:9250"]
    assert targets["airflow"][0]["targets"] == ["127.0.0.1:9102"]
    assert targets["gateway"][0]["targets"] == ["127.0.0.1:8000"]
    assert (folder / "rules").resolve() == PROJECT_ROOT / "docker" / "prometheus" / "rules"


def test_airflow_environment(settings: Settings, layout: Layout) -> None:
    env = AirflowService(settings, layout).environment()
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(PROJECT_ROOT / "dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(PROJECT_ROOT / "plugins")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert float(env["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"]) > 5
    assert env["PATH"].startswith(str(layout.venv / "bin"))
    connection = json.loads(env["AIRFLOW_CONN_KAFKA_DEFAULT"])
    assert connection["extra"]["bootstrap.servers"] == "127.0.0.1:19092"


def test_flink_conf_keeps_distribution_defaults_under_ours(settings: Settings, layout: Layout) -> None:
    flink = FlinkService(settings, layout)
    if flink.missing():
        pytest.skip(f"needs `make setup`: {flink.missing()}")
    flink.prepare()
    conf = yaml.safe_load((flink.conf_dir / "config.yaml").read_text())
    assert conf["rest"]["port"] == 8081
    assert conf["taskmanager"]["memory"]["process"]["size"] == "4096m"
    assert conf["metrics"]["reporter"]["prom"]["port"] == "9249-9250"
    assert conf["python"]["executable"] == str(layout.flink_venv / "bin" / "python")
    assert "--add-opens=java.base/java.util=ALL-UNNAMED" in conf["env"]["java"]["opts"]["all"]
    assert (flink.plugins_dir / "s3-fs-hadoop").is_dir()
    assert (flink.plugins_dir / "metrics-prometheus").is_dir()
    assert any(p.name.startswith("flink-sql-connector-kafka") for p in flink.lib_dir.iterdir())
    assert any(p.name.startswith("flink-dist") for p in flink.lib_dir.iterdir())


def test_cluster_ids_look_like_kafkas() -> None:
    from closeloop.stack.services.kafka import new_cluster_id

    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert set(cluster_id) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
