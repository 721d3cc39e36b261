"""build_drift_report on seeded frames: drift where it was put, quality where labels are, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from training.evidently_report import DriftReport, ReportError, build_drift_report

FEATURES = [f"x{i}" for i in range(8)]
SHIFTED = FEATURES[:4]
# Above 1,000 reference rows Evidently tests numbers by normed Wasserstein distance (drift at 0.1): two
# samples of one distribution score about 0.03, a shift by one standard deviation about 1.
ROWS = 1500
# Per-column plots (DataDriftPreset) only where a test looks at them: they take most of a run's time.
NO_PLOTS = {"max_detailed_columns": 0}


def _frame(rng: np.random.Generator, shift: float = 0.0, labels: tuple = (0, 1)) -> pd.DataFrame:
    frame = pd.DataFrame(rng.normal(size=(ROWS, len(FEATURES))), columns=FEATURES)
    frame[SHIFTED] += shift
    frame["target"] = rng.choice(labels, ROWS)
    # Right four times in five.
    frame["prediction"] = np.where(rng.random(ROWS) < 0.8, frame["target"], rng.choice(labels, ROWS))
    return frame


def _metric(report: DriftReport, kind: str) -> list[dict]:
    return [m for m in report.summary["metrics"] if m["config"]["type"] == f"evidently:metric_v2:{kind}"]


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Reference, a current window like it, and one with SHIFTED moved by one standard deviation."""
    rng = np.random.default_rng(7)
    return _frame(rng), _frame(rng), _frame(rng, shift=1.0)


@pytest.fixture(scope="module")
def shifted(frames) -> DriftReport:
    reference, _, current = frames
    return build_drift_report(reference, current, features=FEATURES, task="classification")


def test_same_distribution_does_not_drift(frames):
    reference, current, _ = frames
    report = build_drift_report(reference, current, features=FEATURES, task="classification", **NO_PLOTS)
    assert report.drift_share == 0.0
    assert report.drifted_columns == []
    assert (report.rows_reference, report.rows_current) == (ROWS, ROWS)


def test_shifted_features_drift(shifted):
    assert shifted.drift_share == pytest.approx(len(SHIFTED) / len(FEATURES))
    assert shifted.drifted_columns == SHIFTED


def test_drifted_columns_are_the_ones_evidentlys_column_tests_fail(shifted):
    failed = [
        test["metric_config"]["params"]["column"]
        for test in shifted.summary["tests"]
        if test["metric_config"]["params"]["type"] == "evidently:metric_v2:ValueDrift"
        and test["status"] == "FAIL"
    ]
    assert failed == shifted.drifted_columns


def test_html_is_a_page(shifted):
    html = shifted.html.strip()
    assert html.lower().startswith("<!doctype html>")
    assert html.endswith("</html>")


def test_summary_and_json_are_plain_json(shifted):
    assert json.loads(json.dumps(shifted.summary)) == shifted.summary
    saved = json.loads(shifted.to_json())
    assert saved["drift_share"] == shifted.drift_share
    assert saved["drifted_columns"] == shifted.drifted_columns
    assert saved["summary"] == shifted.summary
    assert "html" not in saved


def test_classification_quality_is_scored_on_current(frames, shifted):
    current = frames[2]
    [accuracy] = _metric(shifted, "Accuracy")
    assert accuracy["value"] == pytest.approx((current["target"] == current["prediction"]).mean())


def test_string_labels_are_scored():
    rng = np.random.default_rng(11)
    reference, current = (_frame(rng, labels=("no", "yes")) for _ in range(2))
    report = build_drift_report(reference, current, features=FEATURES, task="classification", **NO_PLOTS)
    [accuracy] = _metric(report, "Accuracy")
    assert accuracy["value"] == pytest.approx((current["target"] == current["prediction"]).mean())


def test_regression_quality():
    rng = np.random.default_rng(3)
    reference, current = (_frame(rng) for _ in range(2))
    for frame in (reference, current):
        frame["target"] = frame["x0"] * 2.0
        frame["prediction"] = frame["target"] + rng.normal(scale=0.5, size=ROWS)
    report = build_drift_report(reference, current, features=FEATURES, task="regression", **NO_PLOTS)
    [mae] = _metric(report, "MAE")
    assert mae["value"]["mean"] == pytest.approx((current["target"] - current["prediction"]).abs().mean())
    assert not _metric(report, "Accuracy")


@pytest.mark.parametrize("task", ["classification", "detection"])
def test_drift_only_without_labels_or_quality_preset(frames, task):
    reference, _, current = frames
    current = current.drop(columns="prediction")
    report = build_drift_report(reference, current, features=FEATURES, task=task, **NO_PLOTS)
    assert report.drifted_columns == SHIFTED
    assert not _metric(report, "Accuracy")


def test_many_features_skip_column_plots_not_numbers(frames, shifted):
    reference, _, current = frames
    report = build_drift_report(
        reference, current, features=FEATURES, task="classification", max_detailed_columns=4
    )
    assert (report.drift_share, report.drifted_columns) == (shifted.drift_share, shifted.drifted_columns)
    assert not _metric(report, "ValueDrift")
    assert len(_metric(shifted, "ValueDrift")) == len(FEATURES)
    assert len(report.html) < len(shifted.html)


def test_infinities_count_as_missing(frames, shifted):
    reference, _, current = frames
    current = current.copy()
    current.loc[::10, [SHIFTED[0], FEATURES[-1]]] = np.inf
    report = build_drift_report(
        reference, current, features=FEATURES, task="classification", max_detailed_columns=0
    )
    assert (report.drift_share, report.drifted_columns) == (shifted.drift_share, shifted.drifted_columns)


def test_empty_current_says_there_is_no_recent_data(frames):
    reference, current, _ = frames
    with pytest.raises(ReportError, match="no recent data"):
        build_drift_report(reference, current.iloc[:0], features=FEATURES, task="classification")


@pytest.mark.parametrize("side", ["reference", "current"])
def test_missing_feature_column_is_named(frames, side):
    reference, current, _ = frames
    given = {"reference": reference, "current": current}
    given[side] = given[side].drop(columns="x5")
    with pytest.raises(ReportError, match=rf"{side} frame lacks feature column\(s\) x5"):
        build_drift_report(given["reference"], given["current"], features=FEATURES, task="classification")


def test_non_numerical_feature_is_refused(frames):
    reference, current, _ = frames
    with pytest.raises(ReportError, match="x2 of the current frame are not numerical"):
        build_drift_report(reference, current.astype({"x2": str}), features=FEATURES, task="classification")
