"""A lazy plug-in registry: name -> "module:Class", imported on first use, one instance per name.

Task plug-ins (``closeloop.tasks``) and use cases (``training.usecases``)
are registered this way: a plug-in is a module and one entry, and nothing is
imported until it is used, so reading the registry (a DAG file listing the
use cases as Airflow parses it) does not import every plug-in's dependencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Generic, TypeVar

__all__ = ["LazyRegistry"]

P = TypeVar("P")


class LazyRegistry(Generic[P]):
    """Plug-ins of one kind: subclasses of ``base``, each with a class attribute ``name``.

    ``entries`` maps each name to "module:Class" and is read at every lookup,
    not copied: a test (or a caller) that changes it changes the registry.
    ``kind`` names the plug-in in error messages ("task", "use case"), and
    ``error`` is the exception raised, built from one message.
    """

    def __init__(
        self,
        base: type[P],
        entries: Mapping[str, str],
        *,
        kind: str,
        error: type[Exception],
        plural: str | None = None,
    ) -> None:
        self.base = base
        self.entries = entries
        self.kind = kind
        self.error = error
        self._plural = plural or f"{kind}s"
        # name -> (the entry it was built from, the instance): an entry changed since is built anew.
        self._instances: dict[str, tuple[str, P]] = {}

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self.entries)

    def load(self, name: str) -> type[P]:
        """The class registered as ``name``, imported if need be, without building an instance.

        ``error`` listing the known names if there is none, or if the entry
        does not point at a subclass of ``base`` whose ``name`` is ``name``.
        An ImportError of the plug-in's module is left as it is: it names
        the missing dependency.
        """
        entry = self._entry(name)
        module, sep, attribute = entry.partition(":")
        if not (module and sep and attribute):
            raise self.error(f"registry entry {name!r} is {entry!r}, not 'module:Class'")
        cls = getattr(import_module(module), attribute, None)
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise self.error(
                f"registry entry {name!r} points at {entry!r}, which is not a {self.base.__name__}"
            )
        if getattr(cls, "name", None) != name:
            raise self.error(f"registry entry {name!r} points at {self.kind} {getattr(cls, 'name', None)!r}")
        return cls

    def get(self, name: str) -> P:
        """The plug-in ``name``, built once (and again only if its entry changes); ``error`` if none."""
        entry = self._entry(name)
        cached = self._instances.get(name)
        if cached is None or cached[0] != entry:
            cached = (entry, self.load(name)())
            self._instances[name] = cached
        return cached[1]

    def _entry(self, name: str) -> str:
        try:
            return self.entries[name]
        except KeyError:
            raise self.error(
                f"unknown {self.kind} {name!r}; known {self._plural}: {', '.join(self.names())}"
            ) from None
