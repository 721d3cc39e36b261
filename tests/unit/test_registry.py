"""The lazy plug-in registry: imports on first use, checks each entry, explains unknown names, caches."""

from __future__ import annotations

import sys
from typing import ClassVar

import pytest

from closeloop.errors import CloseloopError
from closeloop.registry import LazyRegistry


class PluginError(CloseloopError, LookupError):
    pass


class Plugin:
    name: ClassVar[str]
    built: ClassVar[int] = 0

    def __init__(self) -> None:
        type(self).built += 1


class Echo(Plugin):
    name = "echo"


class Shout(Plugin):
    name = "shout"


class EchoAgain(Echo):
    """Another class for the same name, as a test might register."""


class NotAPlugin:
    name = "stray"


NOT_A_CLASS = "echo"


def _registry(entries: dict[str, str]) -> LazyRegistry[Plugin]:
    return LazyRegistry(Plugin, entries, kind="plug-in", error=PluginError)


def test_names_are_sorted_and_nothing_is_imported_to_list_them() -> None:
    registry = _registry({"zeta": "not_a_module_anywhere:Zeta", "echo": f"{__name__}:Echo"})
    assert registry.names() == ["echo", "zeta"]
    assert "not_a_module_anywhere" not in sys.modules


def test_an_entry_loads_its_class_and_one_instance_per_name() -> None:
    registry = _registry({"echo": f"{__name__}:Echo", "shout": f"{__name__}:Shout"})
    assert registry.load("echo") is Echo
    before = Echo.built
    echo = registry.get("echo")
    assert type(echo) is Echo
    assert registry.get("echo") is echo
    assert Echo.built == before + 1
    assert type(registry.get("shout")) is Shout


def test_the_entries_are_read_at_each_lookup_and_a_changed_entry_is_built_anew() -> None:
    entries = {"echo": f"{__name__}:Echo"}
    registry = _registry(entries)
    echo = registry.get("echo")
    assert type(echo) is Echo
    entries["shout"] = f"{__name__}:Shout"
    assert registry.names() == ["echo", "shout"]
    assert type(registry.get("shout")) is Shout

    entries["echo"] = f"{__name__}:EchoAgain"
    again = registry.get("echo")
    assert type(again) is EchoAgain and again is not echo and registry.get("echo") is again

    del entries["shout"]
    with pytest.raises(PluginError, match="unknown plug-in 'shout'"):
        registry.get("shout")  # a cached instance does not outlive its entry


def test_an_unknown_name_lists_the_known_with_the_error_given() -> None:
    registry = _registry({"shout": f"{__name__}:Shout", "echo": f"{__name__}:Echo"})
    for lookup in (registry.get, registry.load):
        with pytest.raises(PluginError, match=r"^unknown plug-in 'whisper'; known plug-ins: echo, shout$"):
            lookup("whisper")
    plural = LazyRegistry(Plugin, {}, kind="use case", error=PluginError, plural="use cases")
    with pytest.raises(PluginError, match=r"^unknown use case 'x'; known use cases: $"):
        plural.get("x")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (f"{__name__}:Shout", r"^registry entry 'echo' points at plug-in 'shout'$"),
        (
            f"{__name__}:NotAPlugin",
            rf"^registry entry 'echo' points at '{__name__}:NotAPlugin', which is not a Plugin$",
        ),
        (f"{__name__}:NOT_A_CLASS", r"which is not a Plugin$"),
        (f"{__name__}:Missing", r"which is not a Plugin$"),
        (f"{__name__}.Echo", r"^registry entry 'echo' is '.*', not 'module:Class'$"),
        (f"{__name__}:", r"not 'module:Class'$"),
    ],
)
def test_an_entry_must_point_at_a_plugin_of_its_name(entry: str, message: str) -> None:
    registry = _registry({"echo": entry})
    with pytest.raises(PluginError, match=message):
        registry.load("echo")
    with pytest.raises(PluginError, match=message):
        registry.get("echo")


def test_a_missing_module_says_which() -> None:
    registry = _registry({"echo": "not_a_module_anywhere:Echo"})
    with pytest.raises(ModuleNotFoundError, match="not_a_module_anywhere"):
        registry.get("echo")
