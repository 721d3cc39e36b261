"""Evidently's report of a recent window against the reference: feature drift, and model quality when labeled.

Drift is Evidently's default test per numerical feature column (normed
Wasserstein distance above 1,000 reference rows, Kolmogorov-Smirnov below;
other tests for columns of five values or fewer), summed up by
``DriftedColumnsCount`` as the share of drifted features. Quality is
ClassificationPreset or RegressionPreset, when both frames hold the target and
the prediction.

DataDriftPreset adds a ValueDrift and plots per column, computing each
column's drift twice more; that costs about 0.15 s a column at 10,000 rows on
two CPUs, and the preset has no switch to leave it out. So the per-column part
is drawn only for use cases with at most ``DETAILED_COLUMNS_MAX`` features;
above, the HTML has the drift counts, the quality metrics and their tests, and
the drifted columns are listed in the JSON.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from evidently import (
    BinaryClassification,
    DataDefinition,
    Dataset,
    MulticlassClassification,
    Regression,
    Report,
)
from evidently.core.container import MetricContainer, MetricOrContainer
from evidently.legacy.calculations.stattests import get_stattest
from evidently.legacy.core import ColumnType
from evidently.metrics import DriftedColumnsCount
from evidently.presets import ClassificationPreset, DataDriftPreset, RegressionPreset

from closeloop.errors import CloseloopError

__all__ = ["DETAILED_COLUMNS_MAX", "DriftReport", "ReportError", "build_drift_report"]

_log = logging.getLogger(__name__)

#: Up to this many features, the HTML has DataDriftPreset's per-column plots.
DETAILED_COLUMNS_MAX = 16


class ReportError(CloseloopError):
    """The drift report cannot be built from the frames given."""


@dataclass(frozen=True)
class DriftReport:
    """One Evidently run: its HTML, its JSON and the numbers the drift alert needs."""

    #: The standalone HTML page (Evidently's scripts inlined, a few MB).
    html: str
    #: Evidently's JSON of the run: {"metrics": [...], "tests": [...]}, plain JSON types.
    summary: dict[str, Any]
    #: Share of the feature columns Evidently found drifted (DriftedColumnsCount).
    drift_share: float
    #: The drifted feature columns, in feature order.
    drifted_columns: list[str]
    rows_reference: int
    rows_current: int

    def to_json(self) -> str:
        """Everything but the HTML, which is saved on its own."""
        return json.dumps(
            {
                "drift_share": self.drift_share,
                "drifted_columns": self.drifted_columns,
                "rows_reference": self.rows_reference,
                "rows_current": self.rows_current,
                "summary": self.summary,
            }
        )


def build_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    features: list[str],
    task: str,
    target: str = "target",
    prediction: str = "prediction",
    drift_share_threshold: float = 0.5,
    max_detailed_columns: int = DETAILED_COLUMNS_MAX,
) -> DriftReport:
    """Drift of ``features`` from ``reference`` to ``current``, and the model's quality on both.

    Quality is included when both frames hold ``target`` and ``prediction`` and
    ``task`` is "classification" or "regression"; other columns are ignored.
    ``drift_share_threshold`` is Evidently's dataset-drift threshold, shown in
    the report and tested in ``summary``. With more than ``max_detailed_columns``
    features (default ``DETAILED_COLUMNS_MAX``) the per-column plots are left out.

    Infinite feature values count as missing, as Evidently's column drift test
    (ValueDrift) treats them. Raises ReportError when ``current`` or
    ``reference`` has no rows, or lacks a feature column, or holds a
    non-numerical or an all-missing one.
    """
    features = list(features)
    if not features:
        raise ReportError("no feature columns to compare")
    if current.empty:
        raise ReportError("no recent data: the current window has no rows")
    if reference.empty:
        raise ReportError("no reference data: the reference frame has no rows")
    drift = DriftedColumnsCount(columns=features, drift_share=drift_share_threshold)
    # The preset holds this same DriftedColumnsCount (same id), plus one ValueDrift and plot per column.
    items: list[MetricOrContainer] = [
        DataDriftPreset(columns=features, drift_share=drift_share_threshold)
        if len(features) <= max_detailed_columns
        else drift
    ]
    columns = list(features)
    roles: dict[str, Any] = {}
    quality = _quality(task, target, prediction, (reference, current))
    if quality is not None:
        preset, roles = quality
        items.append(preset)
        columns += [target, prediction]
    reference_data = _usable(reference, "reference", features, columns)
    current_data = _usable(current, "current", features, columns)

    definition = DataDefinition(numerical_columns=features, **roles)
    # Evidently's default tests: drift share under the threshold, each quality metric within 20% of the
    # reference's, and (with the preset) one drift verdict per column; they land in the HTML and the summary.
    # A constant column (digits' blank corner pixels) makes Evidently's correlations divide by zero;
    # the result is NaN for that pair, which is right, and the warning is noise.
    with np.errstate(invalid="ignore", divide="ignore"):
        snapshot = Report(items, include_tests=True).run(
            Dataset.from_pandas(current_data, data_definition=definition),
            Dataset.from_pandas(reference_data, data_definition=definition),
        )
    return DriftReport(
        html=snapshot.get_html_str(as_iframe=False),
        # Round-tripped through Evidently's encoder: numpy scalars and label keys become plain JSON.
        summary=json.loads(snapshot.json()),
        drift_share=float(snapshot.metric_results[drift.metric_id].share.value),
        drifted_columns=_drifted_columns(reference_data, current_data, features),
        rows_reference=len(reference),
        rows_current=len(current),
    )


def _usable(frame: pd.DataFrame, label: str, features: list[str], columns: list[str]) -> pd.DataFrame:
    """``columns`` of ``frame``, infinities in features made missing; ReportError if a feature is unusable."""
    missing = [name for name in features if name not in frame]
    if missing:
        raise ReportError(f"the {label} frame lacks feature column(s) {', '.join(missing)}")
    other = [name for name in features if not pd.api.types.is_numeric_dtype(frame[name])]
    if other:
        raise ReportError(f"feature column(s) {', '.join(other)} of the {label} frame are not numerical")
    usable = frame[columns].copy()
    # Evidently drops infinities in ValueDrift but not in DriftedColumnsCount, where they make a score NaN.
    usable[features] = usable[features].replace([np.inf, -np.inf], np.nan)
    empty = [name for name in features if usable[name].isna().all()]
    if empty:
        raise ReportError(f"feature column(s) {', '.join(empty)} of the {label} frame hold no finite values")
    return usable


def _quality(
    task: str, target: str, prediction: str, frames: Sequence[pd.DataFrame]
) -> tuple[MetricContainer, dict[str, Any]] | None:
    """The quality preset for ``task`` and the DataDefinition roles it reads; None (reason logged) if none."""
    if task not in ("classification", "regression"):
        return None
    if not all(column in frame for column in (target, prediction) for frame in frames):
        _log.info("no %s quality: %s and %s are not in both frames", task, target, prediction)
        return None
    if any(frame[[target, prediction]].isna().any(axis=None) for frame in frames):
        _log.warning("no %s quality: %s or %s has missing values", task, target, prediction)
        return None
    if task == "regression":
        return RegressionPreset(), {"regression": [Regression(target=target, prediction=prediction)]}
    classification = _classification(target, prediction, frames)
    return None if classification is None else (ClassificationPreset(), {"classification": [classification]})


def _classification(
    target: str, prediction: str, frames: Sequence[pd.DataFrame]
) -> BinaryClassification | MulticlassClassification | None:
    """The classification roles Evidently can score both frames with.

    Evidently scores a frame whose target and prediction hold two labels as
    binary, and then needs the positive label among them (1 unless told);
    any other number of labels as multiclass, which cannot name one.
    """
    label_sets = [set(frame[target].unique()) | set(frame[prediction].unique()) for frame in frames]
    common = set.intersection(*label_sets)
    if all(len(labels) == 2 for labels in label_sets) and common:
        pos_label = 1 if 1 in common else max(common, key=str)
        return BinaryClassification(target=target, prediction_labels=prediction, pos_label=pos_label)
    if all(len(labels) != 2 or 1 in labels for labels in label_sets):
        return MulticlassClassification(target=target, prediction_labels=prediction)
    _log.warning(
        "no classification quality: Evidently cannot score reference labels %s with current labels %s",
        *label_sets,
    )
    return None


def _drifted_columns(reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str]) -> list[str]:
    """The columns DriftedColumnsCount counted, which it does not name.

    Runs the same default test per column on the same values (infinities
    already missing), without the histograms and plots Evidently adds.
    """
    drifted = []
    for name in features:
        ref, cur = reference[name].dropna(), current[name].dropna()
        test = get_stattest(ref, cur, ColumnType.Numerical, None)
        if test(ref, cur, ColumnType.Numerical, None).drifted:
            drifted.append(name)
    return drifted
