"""Which use cases exist. Adding one is a new package and one entry here; its DAGs follow from this dict."""

from __future__ import annotations

from closeloop.errors import CloseloopError
from closeloop.registry import LazyRegistry
from training.usecases.base import UseCase

__all__ = ["USE_CASES", "UseCaseError", "get_use_case", "use_case_class", "use_case_names"]

#: Use case name -> "module:Class". Imported on first use, so that parsing a DAG
#: file (which iterates over this dict) does not import every use case's dependencies.
USE_CASES: dict[str, str] = {
    "digits": "training.usecases.digits:DigitsUseCase",
    "diabetes": "training.usecases.diabetes:DiabetesUseCase",
    "ocr": "training.usecases.ocr:OcrUseCase",
    "speech": "training.usecases.speech:SpeechUseCase",
    "shapes": "training.usecases.shapes:ShapesUseCase",
}


class UseCaseError(CloseloopError, LookupError):
    """No use case of that name, or a registry entry that does not point at one."""


_REGISTRY = LazyRegistry(UseCase, USE_CASES, kind="use case", error=UseCaseError)


def use_case_names() -> list[str]:
    return _REGISTRY.names()


def use_case_class(name: str) -> type[UseCase]:
    """The class registered as ``name``: its class attributes, without building an instance.

    UseCaseError listing the known use cases if there is none.
    """
    return _REGISTRY.load(name)


def get_use_case(name: str) -> UseCase:
    """The use case ``name``, built once; UseCaseError listing the known use cases if there is none."""
    return _REGISTRY.get(name)
