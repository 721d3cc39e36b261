"""Use cases: the models closeloop keeps good, each a plug-in registered by name."""

from training.usecases.base import TARGET, BaseData, UseCase
from training.usecases.registry import USE_CASES, UseCaseError, get_use_case, use_case_class, use_case_names

__all__ = [
    "TARGET",
    "USE_CASES",
    "BaseData",
    "UseCase",
    "UseCaseError",
    "get_use_case",
    "use_case_class",
    "use_case_names",
]
