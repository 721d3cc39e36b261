"""Why a retrain ran, as the DAG records it."""

from __future__ import annotations

from training.reasons import describe_trigger


def _alert(alert_id: str, kind: str = "quality") -> dict:
    return {
        "alert_id": alert_id,
        "kind": kind,
        "metric": "accuracy",
        "value": 0.61,
        "threshold": 0.8,
        "model_version": "3",
    }


def test_an_alert_names_its_id_kind_and_numbers() -> None:
    reason = describe_trigger("asset_triggered", [_alert("a1")], {"force": False})
    assert reason.trigger == "alert"
    assert reason.alert_ids == ["a1"]
    assert reason.alert_kinds == ["quality"]
    assert reason.summary == "quality alert a1: accuracy=0.61 vs threshold 0.8 on version 3"


def test_several_alerts_are_all_kept() -> None:
    reason = describe_trigger("asset_triggered", [_alert("a1"), _alert("a2", "drift")], {})
    assert reason.alert_ids == ["a1", "a2"]
    assert reason.alert_kinds == ["drift", "quality"]
    assert reason.summary.endswith("(+1 more)")


def test_schedule_and_manual() -> None:
    assert describe_trigger("scheduled", [], {}).trigger == "schedule"
    manual = describe_trigger("manual", [], {"force": True, "margin": 0.0})
    assert manual.trigger == "manual"
    assert manual.summary == "manual run (force=True, margin=0.0)"


def test_payloads_that_are_not_alerts_are_ignored() -> None:
    assert describe_trigger("scheduled", [{}, {"something": 1}], {}).trigger == "schedule"
