"""docker-compose.yaml, checked without a Docker engine: against the Compose
Specification's own JSON schema, against the habits of a good compose file, and
against the local stack it must mirror (versions, topics, buckets, settings)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import yaml

from closeloop.config import PROJECT_ROOT, Settings
from closeloop.stack.services.airflow import EXECUTOR

COMPOSE = PROJECT_ROOT / "docker-compose.yaml"
SCHEMA = PROJECT_ROOT / ".local" / "compose" / "compose-spec.json"
# Run to completion, then stay down (`restart: "no"`); everything else has a healthcheck.
ONE_SHOT = {"kafka-init", "minio-init", "airflow-init", "feedback-job", "preprocess-job"}
# Read by compose alone: the local stack has no Postgres, no executor switch, and
# generates its Airflow secrets.
COMPOSE_ONLY = {
    "CLOSELOOP_POSTGRES_PASSWORD",
    "CLOSELOOP_AIRFLOW_ADMIN_PASSWORD",
    "CLOSELOOP_AIRFLOW_JWT_SECRET",
    "CLOSELOOP_AIRFLOW_FERNET_KEY",
    "CLOSELOOP_AIRFLOW_EXECUTOR",
}
_SECRET_KEY = re.compile(r"PASSWORD|SECRET|FERNET|JWT|TOKEN|API_KEY")


def setting_fields() -> dict[str, object]:
    """``CLOSELOOP_<NAME>`` → field, over Settings and every subclass (gateway, streaming job, stack, …)."""
    # Each import registers its subclass.
    import closeloop_airflow.models_view.app  # noqa: F401

    import closeloop.gateway.settings
    import closeloop.inference.settings
    import closeloop.monitoring.exporter
    import closeloop.preprocessing.settings
    import closeloop.stack.settings
    import closeloop.streaming.settings  # noqa: F401

    fields: dict[str, object] = {}
    todo: list[type] = [Settings]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        fields.update({f"CLOSELOOP_{n.upper()}": f for n, f in cls.model_fields.items()})
    return fields


def resolve(value: str) -> str:
    """A compose value with every ``${VAR:-default}`` replaced by its default."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def test_validates_against_the_compose_specification(compose: dict) -> None:
    if not SCHEMA.exists():
        pytest.fail(f"{SCHEMA} is missing: `make setup` downloads it")
    jsonschema.validate(compose, json.loads(SCHEMA.read_text()))


def test_the_schema_check_catches_a_broken_file(compose: dict) -> None:
    broken = {**compose, "services": {**compose["services"], "kafka": {"image": 42, "ports": "9092"}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json.loads(SCHEMA.read_text()))


def test_no_version_key_and_named_volumes(compose: dict, services: dict[str, dict]) -> None:
    assert "version" not in compose
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source.startswith("./") or source in compose["volumes"], (name, volume)


def test_long_running_services_have_healthchecks(services: dict[str, dict]) -> None:
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
        else:
            assert "test" in service.get("healthcheck", {}), f"{name} has no healthcheck"
            assert service.get("restart") == "unless-stopped", f"{name} is not restarted"
    assert {n for n, s in services.items() if s.get("restart") == "no"} == ONE_SHOT


def test_dependencies_wait_for_health_or_completion(services: dict[str, dict]) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on without conditions"
        for dependency, condition in depends_on.items():
            assert dependency in services, f"{name} depends on a service that does not exist: {dependency}"
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert condition["condition"] == expected, (name, dependency)
            # A service outside a profile cannot wait for one inside it: compose refuses the file
            # whenever the profile is off.
            assert set(services[dependency].get("profiles", [])) <= set(service.get("profiles", [])), (
                name,
                dependency,
            )


def test_images_are_pinned(services: dict[str, dict]) -> None:
    for name, service in services.items():
        image = service["image"]
        assert re.search(r":[\w.-]+$", image) and not image.endswith(":latest"), (name, image)


def _is_required_reference(value: str) -> bool:
    return re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", value) is not None


def test_secrets_are_required_and_never_written_in(compose: dict, services: dict[str, dict]) -> None:
    text = COMPOSE.read_text()
    secrets = [n for n in re.findall(r"\$\{([A-Z0-9_]+)", text) if _SECRET_KEY.search(n)]
    assert {"CLOSELOOP_S3_SECRET_KEY", "CLOSELOOP_POSTGRES_PASSWORD", "CLOSELOOP_AIRFLOW_JWT_SECRET"} <= set(
        secrets
    )
    for secret in secrets:
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert all(use.startswith(":?") for use in uses), f"{secret} has a default in {COMPOSE.name}"
    # Every variable that holds a secret is a required reference, nothing else.
    for name, service in services.items():
        for key, value in service.get("environment", {}).items():
            if _SECRET_KEY.search(key) and key != "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE":
                assert _is_required_reference(str(value)), f"{name}: {key} is not a ${{VAR:?…}} reference"
    # Passwords inside URLs and connection JSON too.
    for password in re.findall(r"://[^/\s:@'\"]+:([^@\s]+)@", text):
        assert _is_required_reference(password), password
    for password in re.findall(r'"password": "([^"]*)"', text):
        assert _is_required_reference(password), password
    # And none of the development values of .env.example is written in.
    example = dict(re.findall(r"^([A-Z0-9_]+)=(.+)$", (PROJECT_ROOT / ".env.example").read_text(), re.M))
    for key, value in example.items():
        if _SECRET_KEY.search(key):
            assert value not in text, f"the value of {key} is written into {COMPOSE.name}"


def _names_used(services: dict[str, dict]) -> set[str]:
    """CLOSELOOP_* names compose reads from .env, or hands to closeloop's programs."""
    names = set(re.findall(r"\$\{(CLOSELOOP_[A-Z0-9_]+)", COMPOSE.read_text()))
    for service in services.values():
        names |= {k for k in service.get("environment", {}) if k.startswith("CLOSELOOP_")}
    return names


def test_every_variable_is_a_setting_or_documented(services: dict[str, dict]) -> None:
    """Compose and the local stack read the same CLOSELOOP_* names."""
    names = _names_used(services)
    fields = setting_fields()
    unknown = names - set(fields) - COMPOSE_ONLY
    assert not unknown, f"not closeloop settings: {sorted(unknown)}"
    assert not COMPOSE_ONLY & set(fields), "a compose-only name became a setting: drop it from COMPOSE_ONLY"
    example = (PROJECT_ROOT / ".env.example").read_text()
    for name in set(re.findall(r"\$\{(CLOSELOOP_[A-Z0-9_]+)", COMPOSE.read_text())):
        assert re.search(rf"^{name}=", example, re.M), f"{name} is not in .env.example"


def test_defaults_match_the_settings(compose: dict) -> None:
    defaults = re.findall(r"\$\{(CLOSELOOP_[A-Z0-9_]+):-([^}]*)\}", COMPOSE.read_text())
    assert len(defaults) > 20
    fields = setting_fields()
    example = dict(
        re.findall(r"^(CLOSELOOP_[A-Z0-9_]+)=(.*)$", (PROJECT_ROOT / ".env.example").read_text(), re.M)
    )
    for name, default in defaults:
        if name in fields:
            # Unset (None) in the settings is empty in compose.
            unset = fields[name].default  # type: ignore[attr-defined]
            assert ("" if unset is None else str(unset)) == default, name
        else:
            assert name in COMPOSE_ONLY, name
        # .env.example shows the defaults, not other values.
        assert example.get(name, default) == default, f"{name}: .env.example says {example[name]}"


def test_topics_and_buckets_match_the_local_stack(services: dict[str, dict]) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    script = services["kafka-init"]["command"][0]
    (topics,) = re.findall(r"for topic in ([\w\s-]+); do", script)
    assert [f"closeloop.{t}" for t in topics.split()] == settings.topics.all()
    command = services["minio-init"]["command"]
    buckets = [arg.split("/", 1)[1] for arg in command if arg.startswith("closeloop/")]
    resolved = [re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", b) for b in buckets]
    assert resolved == settings.buckets


def test_versions_match_the_local_stack(services: dict[str, dict]) -> None:
    pom = ET.parse(PROJECT_ROOT / "docker" / "kafka" / "pom.xml").getroot()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    kafka = pom.find("m:properties/m:kafka.version", ns).text
    assert services["kafka"]["build"]["args"]["KAFKA_VERSION"] == kafka
    assert services["kafka"]["image"].endswith(f":{kafka}")

    (minio,) = re.findall(r"^MINIO_VERSION := (\S+)", (PROJECT_ROOT / "Makefile").read_text(), re.M)
    assert services["minio"]["build"]["args"]["MINIO_VERSION"] == minio

    (mlflow,) = re.findall(r"^mlflow==(\S+)", (PROJECT_ROOT / "requirements.txt").read_text(), re.M)
    assert services["mlflow"]["build"]["args"]["MLFLOW_VERSION"] == mlflow


def test_prometheus_image_is_the_version_the_local_stack_runs(services: dict[str, dict]) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: `make setup` installs it")
    output = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    (version,) = re.findall(r"prometheus, version (\d+\.\d+\.\d+)", output.stdout + output.stderr)
    assert services["prometheus"]["image"] == f"prom/prometheus:v{version}"


def test_prometheus_mounts_the_one_config_and_compose_targets(services: dict[str, dict]) -> None:
    binds = [v.rsplit(":", 1)[0] for v in services["prometheus"]["volumes"] if v.startswith("./")]
    mounts = dict(bind.split(":", 1) for bind in binds)
    assert mounts["./docker/prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounts["./docker/prometheus/rules"] == "/etc/prometheus/rules"
    targets = PROJECT_ROOT / "docker" / "prometheus" / "targets" / "compose"
    config = yaml.safe_load((PROJECT_ROOT / "docker" / "prometheus" / "prometheus.yml").read_text())
    for job in config["scrape_configs"]:
        assert (targets / Path(job["file_sd_configs"][0]["files"][0]).name).exists(), job["job_name"]
    # Alertmanager is found the same way, once prometheus.yml names it.
    for group in config.get("alerting", {}).get("alertmanagers", []):
        for sd in group.get("file_sd_configs", []):
            assert all((targets / Path(f).name).exists() for f in sd["files"]), sd


def test_compose_targets_name_compose_services(services: dict[str, dict]) -> None:
    """Every address Prometheus is given in compose is a service there."""
    folder = PROJECT_ROOT / "docker" / "prometheus" / "targets" / "compose"
    for path in folder.glob("*.json"):
        for group in json.loads(path.read_text()):
            for target in group["targets"]:
                assert target.split(":")[0] in services, f"{path.name}: {target}"


def _pin(path: str, package: str) -> str:
    (version,) = re.findall(rf"^{package}==(\S+)", (PROJECT_ROOT / path).read_text(), re.M)
    return version


def _makefile(variable: str) -> str:
    (value,) = re.findall(rf"^{variable} := (\S+)", (PROJECT_ROOT / "Makefile").read_text(), re.M)
    return value


def test_closeloop_images_run_the_local_stack_versions(services: dict[str, dict]) -> None:
    pom = ET.parse(PROJECT_ROOT / "flink" / "connectors" / "pom.xml").getroot()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    flink = _pin("flink/requirements.txt", "apache-flink")
    assert pom.find("m:properties/m:flink.version", ns).text == flink
    for name in ("flink-jobmanager", "flink-taskmanager", "feedback-job"):
        assert services[name]["build"]["args"]["FLINK_VERSION"] == flink, name
        assert services[name]["image"] == f"closeloop/flink:{flink}", name

    airflow = _pin("requirements.txt", "apache-airflow")
    airflow_services = [n for n in services if n.startswith("airflow-")]
    assert len(airflow_services) == 6
    for name in airflow_services:
        assert services[name]["build"]["args"]["AIRFLOW_VERSION"] == airflow, name
        assert services[name]["image"] == f"closeloop/airflow:{airflow}", name

    # One Python: pyproject's, the Makefile's, every image's.
    (python,) = re.findall(r'requires-python = ">=(\d+\.\d+),', (PROJECT_ROOT / "pyproject.toml").read_text())
    (make_python,) = re.findall(r"^PYTHON \?= python(\S+)", (PROJECT_ROOT / "Makefile").read_text(), re.M)
    assert make_python == python
    for name, service in services.items():
        args = service.get("build", {}).get("args", {})
        if "PYTHON_VERSION" in args:
            assert args["PYTHON_VERSION"] == python, name
        if "UV_VERSION" in args:
            assert args["UV_VERSION"] == _makefile("UV_VERSION"), name

    version = re.findall(r'^version = "(\S+)"', (PROJECT_ROOT / "pyproject.toml").read_text(), re.M)[0]
    assert (
        services["gateway"]["image"]
        == services["metrics-exporter"]["image"]
        == f"closeloop/gateway:{version}"
    )
    assert (
        services["statsd-exporter"]["image"] == f"prom/statsd-exporter:{_makefile('STATSD_EXPORTER_VERSION')}"
    )


def test_alertmanager_image_is_the_version_the_local_stack_runs(services: dict[str, dict]) -> None:
    binary = shutil.which("prometheus-alertmanager")
    if binary is None:
        pytest.fail("prometheus-alertmanager is not installed: `make setup` installs it")
    output = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    (version,) = re.findall(r"alertmanager, version (\d+\.\d+\.\d+)", output.stdout + output.stderr)
    assert services["alertmanager"]["image"] == f"prom/alertmanager:v{version}"


def test_flink_checkpoints_live_in_a_bucket_the_stack_creates(services: dict[str, dict]) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in ("flink-jobmanager", "flink-taskmanager", "feedback-job"):
        checkpoints = resolve(services[name]["environment"]["CLOSELOOP_CHECKPOINTS_DIR"])
        assert checkpoints.startswith("s3://"), name
        assert checkpoints.removeprefix("s3://").split("/")[0] in settings.buckets, name


def test_airflow_executor_switch(services: dict[str, dict]) -> None:
    """The stack's LocalExecutor by default; the celery profile brings the broker and workers, and nothing
    else."""
    executor = services["airflow-scheduler"]["environment"]["AIRFLOW__CORE__EXECUTOR"]
    assert executor == f"${{CLOSELOOP_AIRFLOW_EXECUTOR:-{EXECUTOR}}}"
    celery = {n for n, s in services.items() if "celery" in s.get("profiles", [])}
    assert celery == {"redis", "airflow-worker"}
    broker = services["airflow-worker"]["environment"]["AIRFLOW__CELERY__BROKER_URL"]
    assert broker.startswith("redis://redis:")
    for name in (n for n in services if n.startswith("airflow-")):
        assert services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == executor, name
