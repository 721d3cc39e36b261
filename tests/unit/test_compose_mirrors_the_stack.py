"""docker-compose.yaml against the local stack it mirrors (closeloop/stack/services/):
the same services, ports, commands, Airflow configuration and connections, Flink
configuration template and job submission, and config files."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from closeloop.config import PROJECT_ROOT
from closeloop.stack.layout import Layout
from closeloop.stack.registry import build_services
from closeloop.stack.service import Service
from closeloop.stack.services.airflow import AirflowService
from closeloop.stack.services.flink import FlinkService
from closeloop.stack.services.gateway import GatewayService
from closeloop.stack.services.preprocess_job import PreprocessJobService
from closeloop.stack.settings import StackSettings

COMPOSE = PROJECT_ROOT / "docker-compose.yaml"
# A local service that compose runs as several: Airflow's components, Flink's daemons.
COUNTERPARTS = {
    "airflow": ["airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"],
    "flink": ["flink-jobmanager", "flink-taskmanager"],
}
# Programs of closeloop's own in compose, which read closeloop's settings.
CLOSELOOP_PROGRAMS = [
    "gateway",
    "inference",
    "metrics-exporter",
    *COUNTERPARTS["airflow"],
    "flink-jobmanager",
    "flink-taskmanager",
    "feedback-job",
    "preprocess-job",
]
# Config files only compose mounts: the local stack has no Postgres, and writes
# Prometheus' targets for its own addresses.
COMPOSE_ONLY_FILES = {"docker/postgres/init-databases.sql", "docker/prometheus/targets/compose"}
# Airflow options that name a place or an address, which differ between the two.
AIRFLOW_WHERE = {
    "AIRFLOW_HOME",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__CORE__PLUGINS_FOLDER",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__API__HOST",
    "AIRFLOW__API__PORT",
    "AIRFLOW__API__BASE_URL",
    "AIRFLOW__API__WORKERS",
    "AIRFLOW__METRICS__STATSD_HOST",
}
# The connection ids the DAGs and closeloop_airflow's hooks default to.
CONNECTION_IDS = ["KAFKA_DEFAULT", "KAFKA_ALERTS", "CLOSELOOP_LAKE", "CLOSELOOP_MLFLOW", "AIRFLOW_API"]
# Where the HTTP connections point on the compose network.
COMPOSE_HOSTS = {
    "AIRFLOW_CONN_AIRFLOW_API": "http://airflow-api-server:8080",
    "AIRFLOW_CONN_CLOSELOOP_MLFLOW": "http://mlflow:5000",
}


def _resolve(value: object) -> str:
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))


def _load_script(name: str) -> ModuleType:
    path = PROJECT_ROOT / "docker" / "flink" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_docker_flink_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


@pytest.fixture
def settings() -> StackSettings:
    return StackSettings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    # The local stack's services only compute their commands here; nothing starts.
    return Layout(home=PROJECT_ROOT / ".local", state=tmp_path / "state")


@pytest.fixture
def local(settings: StackSettings, layout: Layout) -> dict[str, Service]:
    return {service.name: service for service in build_services(settings, layout)}


def test_every_local_service_runs_in_compose(local: dict[str, Service], services: dict[str, dict]) -> None:
    for name in local:
        for counterpart in COUNTERPARTS.get(name, [name]):
            assert counterpart in services, f"the local stack's {name} has no compose service {counterpart}"


def test_published_ports_are_the_local_stack_ports(
    local: dict[str, Service], services: dict[str, dict]
) -> None:
    """Each service is on the host at the port `closeloop up` gives it, under the same setting."""
    published: dict[str, str] = {}
    for name, service in services.items():
        for mapping in service.get("ports", []):
            found = re.fullmatch(r"\$\{(CLOSELOOP_[A-Z0-9_]+_PORT):-(\d+)\}:\d+", mapping)
            assert found, f"{name}: port {mapping} is not ${{CLOSELOOP_<X>_PORT:-default}}:port"
            published[found.group(1)] = found.group(2)
    settings_ports = {
        f"CLOSELOOP_{n.upper()}": str(f.default)
        for n, f in StackSettings.model_fields.items()
        if n.endswith("_port")
    }
    for variable, default in published.items():
        if variable in settings_ports:
            assert settings_ports[variable] == default, variable
    for name, service in local.items():
        if name in ("feedback-job", "preprocess-job"):
            continue  # listens on nothing; it is Flink's REST port
        assert str(service.port) in published.values(), f"{name}'s port {service.port} is not published"


def test_closeloop_programs_get_the_endpoints_the_stack_derives(
    local: dict[str, Service], services: dict[str, dict], settings: StackSettings
) -> None:
    names = set(local["gateway"].closeloop_environment())
    for program in CLOSELOOP_PROGRAMS:
        environment = services[program]["environment"]
        assert names <= set(environment), (program, names - set(environment))
        assert environment["CLOSELOOP_KAFKA_BOOTSTRAP"] == "kafka:9092"  # kafka's in-network listener
        assert environment["CLOSELOOP_S3_ENDPOINT"] == f"http://minio:{settings.minio_port}"
        assert environment["CLOSELOOP_MLFLOW_TRACKING_URI"] == f"http://mlflow:{settings.mlflow_port}"


def test_gateway_runs_the_local_stack_command(
    settings: StackSettings, layout: Layout, services: dict[str, dict]
) -> None:
    program, *arguments = GatewayService(settings, layout).command()
    expected = [Path(program).name, *("0.0.0.0" if a == settings.host else a for a in arguments)]
    assert [_resolve(a) for a in services["gateway"]["command"]] == expected
    (cmd,) = re.findall(
        r"^CMD (\[.*?\])$", (PROJECT_ROOT / "docker/gateway/Dockerfile").read_text(), re.M | re.S
    )
    assert json.loads(re.sub(r"\\\n\s*", "", cmd)) == expected


def test_airflow_is_configured_as_the_local_stack(
    settings: StackSettings, layout: Layout, services: dict[str, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the stack sets, not what it passes through from the shell (tests/conftest.py sets one).
    for key in list(os.environ):
        if key.startswith(("AIRFLOW__", "AIRFLOW_CONN_")):
            monkeypatch.delenv(key)
    local_env = AirflowService(settings, layout).environment()
    airflow = {k: v for k, v in local_env.items() if k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    assert len(airflow) > 15
    for name in COUNTERPARTS["airflow"]:
        environment = services[name]["environment"]
        for key, value in airflow.items():
            if key in AIRFLOW_WHERE:
                continue
            assert key in environment, f"{name}: {key} is set locally, not in compose"
            if not key.startswith("AIRFLOW_CONN_"):
                assert _resolve(environment[key]) == value, (name, key)
        assert (
            environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
            == "http://airflow-api-server:8080/execution/"
        )


def test_airflow_services_define_the_local_stack_connection_ids_and_types(
    settings: StackSettings, layout: Layout, services: dict[str, dict]
) -> None:
    """Every connection id the local stack defines, with its type, in every Airflow service; no other."""
    local = {
        key: json.loads(value)["conn_type"]
        for key, value in AirflowService(settings, layout).connections().items()
    }
    assert set(local) >= {f"AIRFLOW_CONN_{c}" for c in CONNECTION_IDS}
    for name in COUNTERPARTS["airflow"]:
        environment = services[name]["environment"]
        ours = {
            key: json.loads(value)["conn_type"]
            for key, value in environment.items()
            if key.startswith("AIRFLOW_CONN_")
        }
        assert ours == local, name


@pytest.mark.parametrize("connection", [f"AIRFLOW_CONN_{c}" for c in CONNECTION_IDS])
def test_airflow_connections_are_the_local_stack_ones(
    connection: str, settings: StackSettings, layout: Layout, services: dict[str, dict]
) -> None:
    """The DAGs' connection ids (kafka_default, kafka_alerts, closeloop_lake, closeloop_mlflow,
    airflow_api) with the same options; addresses and secrets are compose's own."""
    local = json.loads(AirflowService(settings, layout).environment()[connection])
    ours = json.loads(services["airflow-scheduler"]["environment"][connection])
    if "extra" in local and "bootstrap.servers" in local["extra"]:
        assert ours["extra"].pop("bootstrap.servers") == "kafka:9092"
        local["extra"].pop("bootstrap.servers")
    if local["conn_type"] == "aws":
        assert ours["extra"].pop("endpoint_url") == "http://minio:9000"
        local["extra"].pop("endpoint_url")
        assert re.fullmatch(r"\$\{CLOSELOOP_S3_SECRET_KEY:\?[^}]*\}", ours.pop("password"))
        local.pop("password")
        ours = json.loads(_resolve(json.dumps(ours)))
    if local["conn_type"] == "http":
        if "password" in local:
            assert re.fullmatch(r"\$\{CLOSELOOP_AIRFLOW_ADMIN_PASSWORD:\?[^}]*\}", ours.pop("password"))
            local.pop("password")
        assert ours.pop("host") == COMPOSE_HOSTS[connection]
        local.pop("host")
    assert ours == local


def test_flink_config_is_the_one_template_rendered_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, settings: StackSettings
) -> None:
    for key in list(os.environ):
        if key.startswith("CLOSELOOP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CLOSELOOP_ENV_FILE", "/nonexistent/.env")
    render = _load_script("render_config")
    assert render.TEMPLATE == PROJECT_ROOT / "docker" / "flink" / "config.yaml"
    config = render.render("flink-jobmanager", "rest.bind-address: 0.0.0.0\njobmanager.bind-host: 0.0.0.0\n")
    assert config["jobmanager"]["rpc"] == {"address": "flink-jobmanager", "port": settings.flink_rpc_port}
    assert config["jobmanager"]["bind-host"] == "0.0.0.0"
    assert config["rest"] == {
        "address": "flink-jobmanager",
        "bind-address": "0.0.0.0",
        "port": settings.flink_rest_port,
        "flamegraph": {"enabled": True},
        "profiling": {"enabled": True},
    }
    assert config["taskmanager"]["numberOfTaskSlots"] == settings.flink_task_slots
    assert config["taskmanager"]["memory"]["process"]["size"] == settings.flink_taskmanager_memory
    assert config["metrics"]["reporter"]["prom"]["port"] == settings.flink_metrics_ports
    assert config["s3"]["endpoint"] == settings.s3_endpoint
    # Overrides come last, nested: one key, not a dotted twin beside the nested one.
    merged = render.merge(render._nested_defaults({"rest.address": "localhost", "env": {"a": 1}}), config)
    assert "rest.address" not in merged and merged["rest"]["address"] == "flink-jobmanager"
    assert merged["env"] == {"a": 1, "java": {"opts": {"client": "-XX:TieredStopAtLevel=1"}}}


def test_feedback_job_is_submitted_as_the_local_stack_submits_it(
    settings: StackSettings, layout: Layout
) -> None:
    submit = _load_script("submit_job")
    local = FlinkService(settings, layout).submit_command(
        layout.project / "flink" / "feedback_job.py", detached=True, savepoint=Path("s3://b/chk-7")
    )
    ours = submit.submit_command("s3://b/chk-7")
    assert Path(ours[0]).name == Path(local[0]).name == "flink"
    assert ours[1:-1] == [a.replace("s3:/b", "s3://b") for a in local[1:-1]]
    assert Path(ours[-1]).relative_to(PROJECT_ROOT) == Path(local[-1]).relative_to(layout.project)
    assert "--fromSavepoint" not in submit.submit_command(None)


def test_preprocess_job_is_submitted_as_the_local_stack_submits_it(
    settings: StackSettings, layout: Layout, services: dict[str, dict]
) -> None:
    submit = _load_script("submit_job")
    local = PreprocessJobService(settings, layout)
    ours = submit.submit_command(None, "preprocess")
    theirs = FlinkService(settings, layout).submit_command(local.job_file, detached=True)
    assert ours[1:-1] == theirs[1:-1]
    assert Path(ours[-1]).relative_to(PROJECT_ROOT) == Path(theirs[-1]).relative_to(layout.project)
    assert services["preprocess-job"]["command"][-1] == "preprocess"


def _config_files(services: dict[str, dict]) -> set[str]:
    """Repo files and folders compose mounts, or the closeloop images copy, from docker/."""
    files = set()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                files.add(source.removeprefix("./"))
    for dockerfile in (PROJECT_ROOT / "docker").rglob("Dockerfile"):
        for sources in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", dockerfile.read_text(), re.M):
            files |= {s for s in sources.split() if s.startswith("docker/") and not s.endswith(".py")}
    return files


def test_mounted_config_files_are_the_local_stack_ones(services: dict[str, dict]) -> None:
    files = _config_files(services)
    assert {
        "docker/prometheus/prometheus.yml",
        "docker/flink/config.yaml",
        "docker/prometheus/statsd-mapping.yml",
    } <= files
    stack_sources = [p.read_text() for p in (PROJECT_ROOT / "closeloop" / "stack").rglob("*.py")]
    for file in sorted(files):
        assert (PROJECT_ROOT / file).exists(), f"{file} is mounted or copied but not in the repo"
        if file in COMPOSE_ONLY_FILES or file.endswith(".sh"):
            continue
        folder, name = Path(file).parent.name, Path(file).name
        # The local stack reaches the file as layout.docker / "<folder>" / "<name>" or the like.
        quoted = [(f"{q}{folder}{q}", f"{q}{name}{q}") for q in "\"'"]
        assert any(d in s and n in s for s in stack_sources for d, n in quoted), (
            f"{file} is used by compose but not by the local stack"
        )


def test_the_flink_image_has_what_the_local_cluster_links_into_lib() -> None:
    """The job's JVM functions and PyFlink's runtime sit in lib/ in both (FlinkService.prepare)."""
    dockerfile = (PROJECT_ROOT / "docker" / "flink" / "Dockerfile").read_text()
    into_lib = re.findall(r"^(?:COPY|RUN cp) .*?(\S+\.jar|\S+/) /opt/flink/lib/$", dockerfile, re.M)
    assert any(s.endswith("/flink/connectors/") for s in into_lib), into_lib
    assert any(s.endswith("closeloop-flink-functions.jar") for s in into_lib), into_lib
    assert any(s.endswith("flink-python-*.jar") for s in into_lib), into_lib
    assert "functions/pom.xml" in dockerfile, "the image builds the functions as `make setup` does"
