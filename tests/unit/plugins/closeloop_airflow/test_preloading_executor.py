"""The preloading executor imports its modules in the scheduler before LocalExecutor forks workers."""

from __future__ import annotations

import sys

import pytest
from airflow.executors.local_executor import LocalExecutor
from closeloop_airflow.executors.preloading_local import (
    DEFAULT_MODULES,
    PreloadingLocalExecutor,
    modules_to_preload,
    preload,
)


def test_the_default_modules_unless_configured() -> None:
    assert modules_to_preload({}) == list(DEFAULT_MODULES)
    assert modules_to_preload({"CLOSELOOP_AIRFLOW_PRELOAD": " json, ,csv "}) == ["json", "csv"]
    assert modules_to_preload({"CLOSELOOP_AIRFLOW_PRELOAD": ""}) == []


def test_a_module_that_cannot_be_imported_is_reported_not_raised() -> None:
    failed = preload(["json", "closeloop_no_such_module"])
    assert list(failed) == ["closeloop_no_such_module"]
    assert "ModuleNotFoundError" in failed["closeloop_no_such_module"]


def test_the_modules_are_imported_before_the_workers_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    # A standard-library module nothing here has imported: imported by start(), before the fork.
    name = "xdrlib" if sys.version_info < (3, 13) else "tomllib"
    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setenv("CLOSELOOP_AIRFLOW_PRELOAD", name)
    seen_at_fork: list[bool] = []
    monkeypatch.setattr(LocalExecutor, "start", lambda self: seen_at_fork.append(name in sys.modules))

    executor = PreloadingLocalExecutor(parallelism=1)
    executor.is_mp_using_fork = True
    executor.start()
    assert seen_at_fork == [True]


def test_spawned_workers_import_for_themselves(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "xdrlib" if sys.version_info < (3, 13) else "tomllib"
    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setenv("CLOSELOOP_AIRFLOW_PRELOAD", name)
    monkeypatch.setattr(LocalExecutor, "start", lambda self: None)

    executor = PreloadingLocalExecutor(parallelism=1)
    executor.is_mp_using_fork = False
    executor.start()
    assert name not in sys.modules
