"""The contract of a use case: one model to keep good, from its base data to its reference profile.

A use case is a plug-in. It names its task (the closeloop.tasks plug-in that
scores it live), its registered model, its base dataset and feature schema,
and knows how to train, evaluate and profile a model. Each use case is a
package, ``training/usecases/<name>/``: its base data and feature schema
(``data.py``), its model (``model.py``), the drifts it can be shown
(``drift.py``, if any), and the UseCase subclass in its ``__init__``.
Registering it in ``training.usecases.registry`` is all it takes to get its
DAGs (``retrain_<name>``, ``drift_report_<name>``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from closeloop.media.normalize import AudioSpec, ImageSpec
from closeloop.monitoring.profiles import ReferenceProfile, build_profile
from closeloop.tasks import get_task

__all__ = ["TARGET", "BaseData", "UseCase"]

#: The column of a training frame that holds the ground truth.
TARGET = "target"
# What a lake row's JSON may give as a model's input: a raw input's base64 or URI, or a number.
_RAW = frozenset({str})
_NUMBERS = frozenset({int, float})


@dataclass(frozen=True)
class BaseData:
    """A use case's own data, split once and the same way every time.

    Both frames hold the feature columns (in ``UseCase.features()`` order) and
    ``TARGET``. ``test`` is the base test set the gate guards against regressions on.
    """

    train: pd.DataFrame
    test: pd.DataFrame


class UseCase(ABC):
    """One model closeloop keeps good. Subclasses set the class attributes and the abstract methods."""

    #: Short name, used in DAG ids: retrain_<name>, drift_report_<name>.
    name: ClassVar[str]
    #: The task plug-in (closeloop.tasks) whose metrics score this model live and offline.
    task: ClassVar[str]
    #: The registered model's name in MLflow, and `model_name` in events.
    model_name: ClassVar[str]
    #: One line for the Airflow UI.
    description: ClassVar[str]
    #: The metric (one of the task's metric_names) the gate compares.
    primary_metric: ClassVar[str]
    #: Whether a larger primary metric is better (accuracy) or worse (MAE).
    higher_is_better: ClassVar[bool]
    #: Whether the predictions are categories (profiled by value) or numbers (by quantile bins).
    categorical_output: ClassVar[bool]
    #: Whether the predictions are profiled at all: free text is not (every line is a category of its own).
    profile_output: ClassVar[bool] = True

    #: The feature schema: input names, in the order the model takes them.
    feature_names: ClassVar[Sequence[str]]
    #: Whether the inputs are raw data carried as strings (an image as a base64 PNG) rather than numbers.
    raw_inputs: ClassVar[bool] = False
    #: For raw inputs: the file the model takes, as data (closeloop.media.normalize), which the
    #: preprocessing of raw events reads from flink/raw_inputs.json (training.usecases.raw_specs).
    raw_spec: ClassVar[AudioSpec | ImageSpec | None] = None
    #: The numbers drift is measured on. Empty: the inputs themselves, which must be numbers; a use
    #: case with raw inputs (an image, audio) names what ``monitoring`` computes from them.
    monitoring_names: ClassVar[Sequence[str]] = ()
    #: Training hyper-parameters used when a run does not override them.
    param_defaults: ClassVar[Mapping[str, Any]] = {}
    #: The drifts ``drift`` can put on this use case's inputs, the first the demo's default. Empty: none.
    drift_kinds: ClassVar[Sequence[str]] = ()
    #: The live primary metric at which the demo counts a retrained model as recovered.
    recovery_threshold: ClassVar[float | None] = None

    def features(self) -> list[str]:
        """``feature_names``, as a list a DataFrame can be indexed with."""
        return list(self.feature_names)

    def monitored(self) -> list[str]:
        """The names of the numbers drift is measured on: ``monitoring_names``, or the inputs."""
        return list(self.monitoring_names or self.feature_names)

    def inputs_ok(self, values: Sequence[Any]) -> bool:
        """Whether every one of ``values`` can be one of the model's inputs (JSON gives exact types: a
        boolean is not a number here, so ``type``, not ``isinstance``; one set per row, as a retrain
        checks tens of thousands of rows)."""
        return {type(value) for value in values} <= (_RAW if self.raw_inputs else _NUMBERS)

    def monitoring(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The numbers drift is measured on, of each row of ``frame``: by default its inputs."""
        return frame[self.monitored()]

    def with_monitoring(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the numbers drift is measured on as columns: for raw inputs, added to it."""
        return frame.join(self.monitoring(frame)) if self.raw_inputs else frame

    def meets(self, value: float, threshold: float) -> bool:
        """Whether a primary metric of ``value`` is as good as ``threshold`` or better."""
        return value >= threshold if self.higher_is_better else value <= threshold

    def drift(self, frame: pd.DataFrame, kind: str, severity: float = 1.0, seed: int = 0) -> pd.DataFrame:
        """A copy of ``frame`` (inputs and ``TARGET``), its inputs drifted by ``kind`` (of ``drift_kinds``).

        ``severity`` 0 leaves the rows as they are, 1.0 is a drift that costs
        the base model most of its quality while a retrain recovers it. The
        same arguments always give the same rows. ValueError for an unknown kind.
        """
        raise ValueError(f"the {self.name} use case has no drift kinds")

    @abstractmethod
    def base_data(self) -> BaseData:
        """The bundled base dataset, split deterministically; nothing is downloaded."""

    def default_params(self) -> dict[str, Any]:
        """A copy of ``param_defaults``: a run's overrides must not change the class's."""
        return dict(self.param_defaults)

    def merged_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``default_params`` overridden by ``params``; ValueError naming any param that has no default."""
        defaults = self.default_params()
        # A misspelt hyper-parameter must not train silently with the default.
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise ValueError(f"{self.name}: unknown training params {unknown}; known: {sorted(defaults)}")
        return {**defaults, **params}

    @abstractmethod
    def train(self, frame: pd.DataFrame, params: Mapping[str, Any]) -> Any:
        """A fitted model (with ``predict`` on a feature DataFrame) trained on ``frame``."""

    def predict(self, model: Any, frame: pd.DataFrame) -> list[Any]:
        """The model's outputs on ``frame``, as the plain values the task plug-in expects."""
        return [_plain(v) for v in model.predict(frame[self.features()])]

    def evaluate(self, model: Any, frame: pd.DataFrame) -> dict[str, float]:
        """The task's metrics of ``model`` on ``frame``, computed as the streaming job computes them."""
        truths = [_plain(v) for v in frame[TARGET]]
        return get_task(self.task).metrics(self.predict(model, frame), truths)

    def reference_profile(self, model: Any, frame: pd.DataFrame, version: str) -> ReferenceProfile:
        """Bins and proportions of each monitored number and of the model's predictions on ``frame``."""
        monitored = self.monitoring(frame)
        return build_profile(
            self.model_name,
            version,
            {name: monitored[name].to_numpy(dtype=np.float64) for name in self.monitored()},
            self.predict(model, frame) if self.profile_output else None,
            categorical_output=self.categorical_output,
        )


def _plain(value: Any) -> Any:
    """numpy scalars as the Python values JSON events carry."""
    return value.item() if isinstance(value, np.generic) else value
