"""The champion models the gateway serves, loaded from the MLflow registry and swapped atomically.

A request takes the current ``LoadedModel`` once and uses it to the end, so a
reload never changes a model under a request: in-flight requests finish on
the old version while the new one loads in the background, and the swap is a
single reference assignment.
"""

from __future__ import annotations

import gc
import logging
import math
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, ErrorCode
from prometheus_client import CollectorRegistry, Counter, Gauge

from closeloop.errors import CloseloopError, InputError
from closeloop.tasks import Task, get_task

__all__ = [
    "TASK_TAG",
    "ChampionPool",
    "InputError",
    "LoadedModel",
    "ModelLoadError",
    "ModelUnavailableError",
    "Predicted",
    "UnknownModelError",
    "load_version",
]

_log = logging.getLogger(__name__)

# The fast path hands scikit-learn a matrix whose columns _matrix has already
# put in the signature's order; scikit-learn would warn, per request, that the
# matrix has no column names.
warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)

#: The version (or registered model) tag that names a model's task plug-in.
TASK_TAG = "closeloop.task"
#: Scores returned per prediction, at most: the likeliest classes.
_TOP_SCORES = 5
#: How long a name that has no champion is not looked up again.
_NEGATIVE_TTL_S = 5.0
#: What the registry answers for a model, or an alias, that does not exist.
_NOT_THERE = {ErrorCode.Name(RESOURCE_DOES_NOT_EXIST), ErrorCode.Name(INVALID_PARAMETER_VALUE)}


class UnknownModelError(CloseloopError, LookupError):
    """No registered model of that name has a champion."""


class ModelUnavailableError(CloseloopError):
    """A model that may exist cannot be served now: the registry is away, or its champion cannot load."""


class ModelLoadError(CloseloopError):
    """A champion exists but cannot be served (no task tag, unloadable artifact…)."""


@dataclass(frozen=True)
class Predicted:
    """What a model answered for a request's inputs, one entry per input in each list."""

    outputs: list[Any]
    #: The likeliest classes' scores, if the model has them and the gateway asks.
    scores: list[dict[str, float]] | None = None
    #: The numbers drift is measured on, if the model computes them from a raw input (``monitor``).
    features: list[dict[str, float]] | None = None


#: (instances, where they came from: "inputs" or "instances") -> what the model answered
Predictor = Callable[[Sequence[dict[str, Any]], str], Predicted]


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    task: Task
    features: list[str]
    predict: Predictor = field(repr=False)
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: The version's tags in the registry, as they were when it was loaded.
    tags: Mapping[str, str] = field(default_factory=dict, repr=False)


def _field_prefix(where: str, index: int) -> str:
    """Where instance ``index`` sits in the request: "instances.<index>", or "inputs" for one input."""
    return f"{where}.{index}" if where == "instances" else where


def _matrix(instances: Sequence[dict[str, Any]], features: list[str], where: str) -> np.ndarray:
    """Instances as a float matrix in the signature's column order, or InputError naming the field."""
    width = len(features)
    try:
        matrix = np.array([[instance[f] for f in features] for instance in instances], dtype=np.float64)
        if np.isfinite(matrix).all() and all(len(instance) == width for instance in instances):
            return matrix
    except (KeyError, TypeError, ValueError):
        pass  # find and name the offending field
    wanted = set(features)
    for index, instance in enumerate(instances):
        prefix = _field_prefix(where, index)
        for name in features:
            if name not in instance:
                raise InputError(f"{prefix}.{name}", "missing feature")
            value = instance[name]
            # math.isfinite: np.isfinite fails on an int beyond 64 bits.
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InputError(f"{prefix}.{name}", f"must be a finite number, got {value!r:.40}")
        for name in instance:
            if name not in wanted:
                raise InputError(f"{prefix}.{name}", "not a feature of this model")
    raise InputError(where, "cannot be read as a numeric matrix")


#: What JSON value each MLflow column type takes, for the pyfunc path's input check.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "double": (int, float),
    "float": (int, float),
    "long": (int,),
    "integer": (int,),
    "string": (str,),
    "boolean": (bool,),
}


def _check_columns(
    instances: Sequence[dict[str, Any]], columns: dict[str, tuple[str, bool]], where: str
) -> None:
    """InputError naming the field unless each instance fits ``columns`` (name -> (type, required)).

    MLflow's own schema enforcement fails with a message that dumps the whole
    frame, or lets a missing column through as NaN for the model to raise on.
    """
    for index, instance in enumerate(instances):
        prefix = _field_prefix(where, index)
        for name, (type_name, required) in columns.items():
            if name not in instance or instance[name] is None:
                if required:
                    raise InputError(f"{prefix}.{name}", "missing input")
                continue
            value, accepted = instance[name], _JSON_TYPES.get(type_name)
            wrong_bool = isinstance(value, bool) and bool not in (accepted or ())
            if accepted is not None and (wrong_bool or not isinstance(value, accepted)):
                raise InputError(f"{prefix}.{name}", f"must be a {type_name}, got {value!r:.40}")
        for name in instance:
            if name not in columns:
                raise InputError(f"{prefix}.{name}", "not an input of this model")


def _scores(probabilities: np.ndarray, classes: Sequence[Any]) -> list[dict[str, float]]:
    top = np.argsort(-probabilities, axis=1)[:, :_TOP_SCORES]
    return [
        {str(classes[j]): float(row[j]) for j in order} for row, order in zip(probabilities, top, strict=True)
    ]


def _predictor(
    model: Any, features: list[str], *, scores: bool, columns: dict[str, tuple[str, bool]] | None = None
) -> Predictor:
    """The fastest faithful way to call the model.

    For a flavor whose raw model predicts on a matrix of numbers
    (scikit-learn), call it directly: MLflow's own pyfunc wrapper does the
    same after converting through pandas, which costs more than the
    prediction. Anything else goes through pyfunc. A raw model with
    ``monitor(frame)`` (a frame of numbers, a row per input) computes what
    drift is measured on from raw inputs: each prediction carries its row.
    """
    try:
        raw = model.get_raw_model()
    except (NotImplementedError, AttributeError):
        raw = None
    numeric = all(type_name in _NUMERIC for type_name, _ in (columns or {}).values())
    if raw is not None and hasattr(raw, "predict") and features and numeric:
        has_proba = scores and hasattr(raw, "predict_proba") and hasattr(raw, "classes_")
        if type(raw).__module__.startswith("sklearn"):
            import sklearn

            # _matrix built a finite float matrix already: skip scikit-learn's
            # second scan of every value, which costs more than the prediction.
            sklearn.set_config(assume_finite=True)

        def predict_raw(instances: Sequence[dict[str, Any]], where: str) -> Any:
            x = _matrix(instances, features, where)
            outputs = raw.predict(x).tolist()
            scores = _scores(raw.predict_proba(x), raw.classes_) if has_proba else None
            return Predicted(outputs, scores)

        return predict_raw

    import pandas as pd

    monitor = getattr(raw, "monitor", None)

    def predict_pyfunc(instances: Sequence[dict[str, Any]], where: str) -> Predicted:
        if columns:
            _check_columns(instances, columns, where)
        frame = pd.DataFrame(list(instances), columns=features or None)
        try:
            result = model.predict(frame)
            monitored = None if monitor is None else _monitored(monitor(frame), len(frame))
        except MlflowException as exc:
            if exc.error_code != "INVALID_PARAMETER_VALUE":
                raise
            # The schema enforcement's own error, without the frame it dumps.
            cause = exc.__context__ or exc
            raise InputError(where, str(cause).splitlines()[0][:300]) from exc
        except InputError as exc:
            index, _, rest = exc.field.partition(".")
            if not index.isdigit():
                raise
            raise InputError(f"{_field_prefix(where, int(index))}.{rest}", exc.reason) from exc
        values = result.tolist() if hasattr(result, "tolist") else list(result)
        return Predicted(values, None, monitored)

    return predict_pyfunc


#: MLflow column types that hold numbers: the matrix fast path takes only these.
_NUMERIC = frozenset({"double", "float", "long", "integer"})


def _monitored(frame: Any, rows: int) -> list[dict[str, float]]:
    """A model's monitoring frame as one dict of floats per input; ValueError if it has another shape."""
    if len(frame) != rows:
        raise ValueError(f"monitor() gave {len(frame)} rows for {rows} inputs")
    names = [str(c) for c in frame.columns]
    return [dict(zip(names, map(float, row), strict=True)) for row in frame.itertuples(index=False)]


def load_version(
    client: MlflowClient, name: str, version: str, *, tracking_uri: str, cache: Path, scores: bool = False
) -> LoadedModel:
    """Download and load one registered version; ModelLoadError says what is wrong with it."""
    import mlflow.artifacts
    import mlflow.pyfunc

    version_info = client.get_model_version(name, version)
    task_name = version_info.tags.get(TASK_TAG) or client.get_registered_model(name).tags.get(TASK_TAG)
    if not task_name:
        raise ModelLoadError(f"model {name} version {version} has no {TASK_TAG!r} tag naming its task")
    task = get_task(task_name)
    target = cache / name / version
    try:
        local = next(target.rglob("MLmodel"), None)
        if local is None:
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            # The version's own artifact location and an explicit tracking URI:
            # "models:/name/version" would resolve through process-wide MLflow state.
            mlflow.artifacts.download_artifacts(
                artifact_uri=client.get_model_version_download_uri(name, version),
                dst_path=str(target),
                tracking_uri=tracking_uri,
            )
            local = next(target.rglob("MLmodel"), None)
            if local is None:
                raise ModelLoadError(f"model {name} version {version} has no MLmodel in its artifacts")
        model = mlflow.pyfunc.load_model(str(local.parent))
    except ModelLoadError:
        raise
    except Exception as exc:  # a model's own loading code may raise anything
        raise ModelLoadError(
            f"cannot load model {name} version {version}: {type(exc).__name__}: {exc}"
        ) from exc
    schema = model.metadata.get_input_schema()
    named = schema is not None and schema.has_input_names()
    features = schema.input_names() if named else []
    columns = (
        {str(c.name): (getattr(c.type, "name", str(c.type)), c.required) for c in schema.inputs}
        if named
        else None
    )
    predictor = _predictor(model, features, scores=scores, columns=columns)
    return LoadedModel(
        name, version, task, [str(f) for f in features], predictor, tags=dict(version_info.tags)
    )


class ChampionPool:
    """The served models by name, each the version the champion alias points at."""

    def __init__(
        self,
        *,
        tracking_uri: str,
        alias: str,
        registry: CollectorRegistry,
        cache: Path,
        scores: bool = False,
        metrics_prefix: str = "closeloop_gateway",
        drop_when_gone: bool = False,
    ) -> None:
        """``metrics_prefix`` names the pool's metrics after the program that serves it.

        With ``drop_when_gone`` a model whose alias is removed stops being served (a canary);
        without, the last version keeps serving (a champion: better stale than down).
        """
        self.alias = alias
        self._drop_when_gone = drop_when_gone
        self._scores = scores
        self._tracking_uri = tracking_uri
        self._cache = cache
        self._client = MlflowClient(tracking_uri)
        self._models: dict[str, LoadedModel] = {}
        self._absent: dict[str, float] = {}
        self._loading: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self.reloads = Counter(
            f"{metrics_prefix}_model_reloads",
            "Champion loads by model and outcome (loaded, failed).",
            ["model", "outcome"],
            registry=registry,
        )
        self.served = Gauge(
            f"{metrics_prefix}_model_version",
            "1 for the version each model is served at.",
            ["model", "version"],
            registry=registry,
        )
        self.load_failing = Gauge(
            f"{metrics_prefix}_model_load_failing",
            "1 while a model's champion cannot be loaded (the previous version keeps serving).",
            ["model"],
            registry=registry,
        )
        #: Why each model's champion could not be loaded last time, until a load succeeds.
        self.failures: dict[str, str] = {}

    def models(self) -> list[LoadedModel]:
        return sorted(self._models.values(), key=lambda m: m.name)

    def get(self, name: str) -> LoadedModel | None:
        return self._models.get(name)

    def champion_version(self, name: str) -> str | None:
        """The version the alias points at now, or None if there is none.

        Raises MlflowException when the registry cannot say (unreachable, or
        failing): "no champion" and "cannot tell" must not look alike.
        """
        try:
            return str(self._client.get_model_version_by_alias(name, self.alias).version)
        except MlflowException as exc:
            if exc.error_code in _NOT_THERE:
                return None
            raise

    def discover(self) -> list[str]:
        """Registered models that have the champion alias."""
        names = []
        for model in self._client.search_registered_models(max_results=1000):
            if self.alias in (model.aliases or {}):
                names.append(model.name)
        return names

    def ensure(self, name: str) -> LoadedModel:
        """The served model, loading its champion now if it is not loaded yet."""
        if (loaded := self._models.get(name)) is not None:
            return loaded
        if time.monotonic() - self._absent.get(name, -1e9) < _NEGATIVE_TTL_S:
            raise UnknownModelError(f"no model {name!r} with a {self.alias!r} alias in the registry")
        self.load(name)
        if (loaded := self._models.get(name)) is not None:
            return loaded
        if (why := self.failures.get(name)) is not None:
            raise ModelUnavailableError(f"model {name!r} cannot be served now: {why}")
        self._absent[name] = time.monotonic()
        raise UnknownModelError(f"no model {name!r} with a {self.alias!r} alias in the registry")

    def load(self, name: str, version: str | None = None) -> LoadedModel | None:
        """Load the champion (or ``version``) and swap it in; returns what is served afterwards.

        Concurrent calls for one model coalesce: while one load runs, others
        return what is served (or, before the first load finished, wait for
        it), and the running one checks the alias again when done.
        """
        with self._lock:
            running = self._loading.get(name)
            if running is None:
                self._loading[name] = done = threading.Event()
        if running is not None:
            if name not in self._models:
                running.wait(timeout=300)  # the first load: wait for it rather than answer 404
            return self._models.get(name)
        try:
            while True:
                current = self._models.get(name)
                try:
                    target = version or self.champion_version(name)
                except MlflowException as exc:
                    return self._failed(name, current, f"cannot reach the registry: {exc}")
                if target is None:
                    self._recovered(name)  # the registry answered: no champion is no failure
                    if current is not None and self._drop_when_gone:
                        self._drop(current)
                        return None
                    return current
                if current is not None and current.version == target:
                    self._recovered(name)  # the registry is back, and nothing moved meanwhile
                    return current
                try:
                    loaded = load_version(
                        self._client,
                        name,
                        target,
                        tracking_uri=self._tracking_uri,
                        cache=self._cache,
                        scores=self._scores,
                    )
                except (CloseloopError, MlflowException) as exc:
                    return self._failed(name, current, f"cannot load version {target}: {exc}")
                self._models[name] = loaded  # the atomic swap
                self._recovered(name)
                # The model and the modules its load imported live until the next
                # swap: keep the garbage collector from rescanning them (see app.py).
                gc.freeze()
                self._absent.pop(name, None)
                if current is not None:
                    self._retire(current)
                self.served.labels(name, loaded.version).set(1)
                self.reloads.labels(name, "loaded").inc()
                _log.info(
                    "serving %s version %s (was %s)",
                    name,
                    loaded.version,
                    current.version if current else "-",
                )
                version = None  # then follow the alias, in case it moved during the load
        finally:
            with self._lock:
                del self._loading[name]
            done.set()

    def _drop(self, current: LoadedModel) -> None:
        del self._models[current.name]
        self._retire(current)
        _log.info(
            "%s: no %r alias any more; version %s no longer served", current.name, self.alias, current.version
        )

    def _retire(self, old: LoadedModel) -> None:
        """A version no longer served: off the served gauge, its files gone. In-flight requests
        hold the model object, not its files."""
        self.served.remove(old.name, old.version)
        shutil.rmtree(self._cache / old.name / old.version, ignore_errors=True)

    def _failed(self, name: str, current: LoadedModel | None, why: str) -> LoadedModel | None:
        """Record why the champion of ``name`` is not served; ``current`` keeps serving."""
        self.reloads.labels(name, "failed").inc()
        self.load_failing.labels(name).set(1)
        self.failures[name] = why[:500]
        serving = current.version if current else "nothing"
        _log.error("%s: %s (still serving %s; retried at the next poll)", name, why, serving)
        return current

    def _recovered(self, name: str) -> None:
        if self.failures.pop(name, None) is not None:
            self.load_failing.labels(name).set(0)

    def load_in_background(self, name: str, version: str | None = None) -> threading.Thread:
        thread = threading.Thread(target=self.load, args=(name, version), name=f"load-{name}", daemon=True)
        thread.start()
        return thread
