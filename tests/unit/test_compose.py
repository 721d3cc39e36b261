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

COMPOSE = PROJECT_ROOT / "docker-compose.yaml"
SCHEMA = PROJECT_ROOT / ".local" / "compose" / "compose-spec.json"
ONE_SHOT = {"kafka-init", "minio-init"}


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


def test_dependencies_wait_for_health_or_completion(services: dict[str, dict]) -> None:
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert condition["condition"] == expected, (name, dependency)


def test_images_are_pinned(services: dict[str, dict]) -> None:
    for name, service in services.items():
        image = service["image"]
        assert re.search(r":[\w.-]+$", image) and not image.endswith(":latest"), (name, image)


def test_secrets_are_required_and_never_written_in(compose: dict) -> None:
    text = COMPOSE.read_text()
    for secret in ("CLOSELOOP_S3_SECRET_KEY", "CLOSELOOP_POSTGRES_PASSWORD"):
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses and all(use.startswith(":?") for use in uses), secret
    assert "closeloop-dev-secret" not in text


def test_every_variable_is_a_setting_or_documented(compose: dict) -> None:
    """Compose and the local stack read the same CLOSELOOP_* names."""
    names = set(re.findall(r"\$\{(CLOSELOOP_[A-Z0-9_]+)", COMPOSE.read_text()))
    settings = {f"CLOSELOOP_{field.upper()}" for field in Settings.model_fields}
    compose_only = {"CLOSELOOP_POSTGRES_PASSWORD"}
    assert names - settings <= compose_only
    example = (PROJECT_ROOT / ".env.example").read_text()
    for name in names:
        assert re.search(rf"^{name}=", example, re.M), f"{name} is not in .env.example"


def test_defaults_match_the_settings(compose: dict) -> None:
    defaults = dict(re.findall(r"\$\{(CLOSELOOP_[A-Z0-9_]+):-([^}]*)\}", COMPOSE.read_text()))
    fields = Settings.model_fields
    for name, default in defaults.items():
        field = fields[name.removeprefix("CLOSELOOP_").lower()]
        assert str(field.default) == default, name


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
