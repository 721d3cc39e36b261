"""The Dockerfiles under docker/, checked without a Docker engine: what they copy
exists and is sent in the build context, and the versions they build default to
are the ones docker-compose.yaml asks for."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest
import yaml

from closeloop.config import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yaml"
CLOSELOOP_IMAGES = {"docker/airflow/Dockerfile", "docker/flink/Dockerfile", "docker/gateway/Dockerfile"}


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [line for line in dockerfile.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^\s*(\w+)\s+(.*)$", joined, re.M)]


def _builds() -> dict[str, tuple[Path, Path, dict[str, str]]]:
    """Dockerfile (relative) → (context, dockerfile, build args), over every compose service that builds."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    builds = {}
    for service in services.values():
        if "build" not in service:
            continue
        context = PROJECT_ROOT / service["build"]["context"]
        dockerfile = context / service["build"].get("dockerfile", "Dockerfile")
        builds[str(dockerfile.relative_to(PROJECT_ROOT))] = (
            context,
            dockerfile,
            service["build"].get("args", {}),
        )
    return builds


BUILDS = _builds()


def _ignored(context: Path) -> list[str]:
    ignore = context / ".dockerignore"
    if not ignore.exists():
        return []
    return [
        line.strip() for line in ignore.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]


def test_every_dockerfile_is_built_by_compose() -> None:
    dockerfiles = {str(p.relative_to(PROJECT_ROOT)) for p in (PROJECT_ROOT / "docker").rglob("Dockerfile")}
    assert dockerfiles == set(BUILDS)
    assert {
        "docker/airflow/Dockerfile",
        "docker/flink/Dockerfile",
        "docker/gateway/Dockerfile",
    } <= dockerfiles


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_copy_sources_exist_in_the_build_context(name: str) -> None:
    context, dockerfile, _ = BUILDS[name]
    ignored = _ignored(context)
    copied = 0
    for instruction, arguments in _instructions(dockerfile):
        if instruction not in ("COPY", "ADD"):
            continue
        if arguments.startswith("["):
            *sources, _ = json.loads(arguments)
        else:
            *sources, _ = [a for a in arguments.split() if not a.startswith("--")]
        if "--from=" in arguments:
            continue  # from another stage or image
        for source in sources:
            if re.match(r"https?://", source):
                continue
            copied += 1
            assert list(context.glob(source)), f"{name}: COPY {source}: no such file in {context}"
            for pattern in ignored:
                top = source.split("/")[0]
                assert not fnmatch.fnmatch(source, pattern) and not fnmatch.fnmatch(top, pattern), (
                    f"{name}: COPY {source} is excluded by {context / '.dockerignore'} ({pattern})"
                )
    if name in CLOSELOOP_IMAGES:
        assert copied, f"{name} copies nothing"


def test_the_root_context_leaves_out_the_local_state() -> None:
    """The closeloop images build from the repository root: .local/ (gigabytes) and .env must stay out."""
    ignored = _ignored(PROJECT_ROOT)
    assert {".local", ".env", ".git"} <= set(ignored)


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_build_args_are_the_dockerfile_defaults(name: str) -> None:
    """`docker build` without compose builds the same versions as compose."""
    _, dockerfile, args = BUILDS[name]
    defaults = dict(
        re.findall(r"^ARG (\w+)=(\S+)$", dockerfile.read_text(), re.M),
    )
    for arg, value in args.items():
        assert defaults.get(arg) == value, f"{name}: ARG {arg}={defaults.get(arg)} but compose builds {value}"


def test_closeloop_images_install_the_locked_requirements() -> None:
    """Each image installs a lock file, as `make setup` does, and closeloop editable without dependencies."""
    for name, lock in (
        ("docker/airflow/Dockerfile", "requirements.txt"),
        ("docker/gateway/Dockerfile", "requirements.txt"),
        ("docker/flink/Dockerfile", "flink/requirements.txt"),
    ):
        text = (PROJECT_ROOT / name).read_text()
        assert re.search(rf"^COPY (--\S+ )*{re.escape(lock)} ", text, re.M), (name, lock)
        assert re.search(r"--no-deps -e /opt/closeloop", text), name
