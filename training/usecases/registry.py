"""Which use cases exist. Adding one is a new module and one entry here; its DAGs follow from this dict."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from closeloop.errors import CloseloopError
from training.usecases.base import UseCase

__all__ = ["USE_CASES", "UseCaseError", "get_use_case", "use_case_class", "use_case_names"]

#: Use case name -> "module:Class". Imported on first use, so that parsing a DAG
#: file (which iterates over this dict) does not import every use case's dependencies.
USE_CASES: dict[str, str] = {
    "digits": "training.usecases.digits:DigitsUseCase",
    "diabetes": "training.usecases.diabetes:DiabetesUseCase",
}


class UseCaseError(CloseloopError, LookupError):
    """No use case of that name, or a registry entry that does not point at one."""


def use_case_names() -> list[str]:
    return sorted(USE_CASES)


def use_case_class(name: str) -> type[UseCase]:
    """The class registered as ``name``: its class attributes, without building an instance.

    UseCaseError listing the known use cases if there is none.
    """
    try:
        module, cls_name = USE_CASES[name].split(":")
    except KeyError:
        raise UseCaseError(
            f"unknown use case {name!r}; known use cases: {', '.join(use_case_names())}"
        ) from None
    cls = getattr(import_module(module), cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, UseCase)):
        raise UseCaseError(f"registry entry {name!r} points at {USE_CASES[name]!r}, which is not a UseCase")
    if cls.name != name:
        raise UseCaseError(f"registry entry {name!r} points at use case {cls.name!r}")
    return cls


@cache
def get_use_case(name: str) -> UseCase:
    """The use case ``name``, built once; UseCaseError listing the known use cases if there is none."""
    return use_case_class(name)()
