"""No module of the plugin package may share its name with an installed top-level module.

Airflow's plugin manager imports every .py file under plugins/ as a
top-level module named after the file (``sys.modules[stem]``), so a
``hooks/mlflow.py`` replaces the real ``mlflow`` in each task process and the
retrain tasks fail with an ImportError.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[3] / "plugins"
MODULES = sorted(p for p in PLUGINS.rglob("*.py") if not p.stem.startswith("__"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PLUGINS)))
def test_a_plugin_module_does_not_shadow_an_installed_one(path: Path) -> None:
    spec = importlib.util.find_spec(path.stem)
    found = None if spec is None or spec.origin is None else Path(spec.origin).resolve()
    assert found in (None, path), f"{path.relative_to(PLUGINS)} shadows {found} once Airflow loads plugins"


def test_the_check_finds_a_shadowing_name() -> None:
    assert importlib.util.find_spec("mlflow") is not None
