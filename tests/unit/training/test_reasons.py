"""Why a retrain ran, as the DAG records it."""

from __future__ import annotations

from training.reasons import describe_trigger, labels_to_wait_for, stale_alerts


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


def _windowed(alert_id: str, end: str, source: str = "flink", version: str = "3") -> dict:
    return {
        **_alert(alert_id, version=version),
        "source": source,
        "window": {"start": "2026-11-22T10:00:00Z", "end": end},
    }


def test_a_live_alert_about_the_champion_waits_for_labels_newer_than_its_window() -> None:
    live = describe_trigger(
        "asset_triggered",
        [
            _windowed("a1", "2026-11-22T10:00:05Z"),
            _windowed("a2", "2026-11-22T10:00:10.000Z"),
            _windowed("old", "2026-11-22T11:00:00Z", version="2"),
        ],
        {},
    )
    assert live.live_window_ends == {"3": "2026-11-22T10:00:10.000Z", "2": "2026-11-22T11:00:00Z"}
    plan = {
        "min_new_labels": 0,
        "alert_min_labels": 500,
        "champion_version": "3",
        "champion_trained_at": "2026-11-22T09:00:00+00:00",
    }
    assert labels_to_wait_for(live, **plan) == (500, "2026-11-22T10:00:10.000Z")
    # More asked for by hand wins, counted since the champion was trained.
    assert labels_to_wait_for(live, **{**plan, "min_new_labels": 800}) == (800, "2026-11-22T09:00:00+00:00")
    # Alerts about another version than the champion wait for nothing.
    assert labels_to_wait_for(live, **{**plan, "champion_version": "4"}) == (0, "2026-11-22T09:00:00+00:00")
    # A drift report's alert covers a day of data: no wait beyond the params.
    report = describe_trigger("asset_triggered", [_windowed("r1", "2026-11-22T10:00:10Z", "airflow")], {})
    assert report.live_window_ends == {}
    assert labels_to_wait_for(report, **plan) == (0, "2026-11-22T09:00:00+00:00")
    assert labels_to_wait_for(describe_trigger("manual", [], {}), **plan) == (0, "2026-11-22T09:00:00+00:00")
