"""Why a retrain ran, as the DAG records it."""

from __future__ import annotations

from training.reasons import describe_trigger, stale_alerts


def _alert(alert_id: str, kind: str = "quality", version: str = "3") -> dict:
    return {
        "alert_id": alert_id,
        "kind": kind,
        "metric": "accuracy",
        "value": 0.61,
        "threshold": 0.8,
        "model_version": version,
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


def test_alerts_about_a_version_no_longer_champion_are_stale() -> None:
    old = describe_trigger("asset_triggered", [_alert("a1", version="3"), _alert("a2", version="4")], {})
    assert old.alert_versions == ["3", "4"]
    assert stale_alerts(old, "5") == (
        "the alerts are about version 3, 4, no longer the champion (version 5 is)"
    )
    # One alert about the champion is enough to retrain.
    assert stale_alerts(old, "4") is None
    # No champion yet, or no alert: never stale.
    assert stale_alerts(old, None) is None
    assert stale_alerts(describe_trigger("manual", [], {}), "5") is None
    assert stale_alerts(describe_trigger("scheduled", [], {}), "5") is None
