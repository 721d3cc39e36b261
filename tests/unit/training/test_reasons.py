"""Why a retrain ran, as the DAG records it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from training.reasons import (
    EarlierRun,
    RetrainReason,
    answered_already,
    changed_since,
    choose_rollout,
    describe_trigger,
    labels_to_wait_for,
    stale_alerts,
)


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


def test_auto_rollout_is_direct_after_a_quality_alert_and_a_canary_otherwise() -> None:
    quality = describe_trigger("asset_triggered", [_alert("a1"), _alert("a2", "drift")], {})
    drift = describe_trigger("asset_triggered", [_alert("a1", "drift")], {})
    assert choose_rollout("auto", quality, "3") == (
        "direct",
        "a quality alert: the champion is already failing",
    )
    assert choose_rollout("auto", drift, "3") == ("canary", "alerts without a drop in quality")
    assert choose_rollout("auto", describe_trigger("scheduled", [], {}), "3")[0] == "canary"
    assert choose_rollout("auto", describe_trigger("manual", [], {}), "3")[0] == "canary"
    # Asked for, either way; without a champion there is nothing to be a canary against.
    assert choose_rollout("canary", quality, "3")[0] == "canary"
    assert choose_rollout("direct", drift, "3")[0] == "direct"
    assert choose_rollout("canary", drift, None) == ("direct", "no champion to compare a canary with")
    # A model's own policy replaces the default, but not what a person chose.
    assert choose_rollout("auto", quality, "3", model_policy="canary") == (
        "canary",
        "the model's rollout policy is canary",
    )
    assert choose_rollout("direct", quality, "3", model_policy="canary")[0] == "canary"
    manual = describe_trigger("manual", [], {})
    assert choose_rollout("direct", manual, "3", model_policy="canary") == ("direct", "rollout=direct")
    assert choose_rollout("auto", manual, "3", model_policy="direct")[0] == "direct"
    with pytest.raises(ValueError, match="rollout must be one of auto, canary, direct"):
        choose_rollout("shadow", drift, "3")


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


def _windowed(
    alert_id: str, end: str, source: str = "flink", version: str = "3", since: str | None = None
) -> dict:
    return {
        **_alert(alert_id, version=version),
        "source": source,
        "window": {"start": "2026-11-22T10:00:00Z", "end": end},
        "since": since,
    }


def test_a_live_alert_about_the_champion_waits_for_labels_since_its_condition_began() -> None:
    live = describe_trigger(
        "asset_triggered",
        [
            _windowed("a1", "2026-11-22T10:00:05Z", since="2026-11-22T09:59:55Z"),
            _windowed("a2", "2026-11-22T10:00:10.000Z", since="2026-11-22T10:00:00.000Z"),
            # Prometheus does not say when the condition began: its window's end stands for it.
            _windowed("old", "2026-11-22T11:00:00Z", source="prometheus", version="2"),
        ],
        {},
    )
    assert live.live_since == {"3": "2026-11-22T10:00:00.000Z", "2": "2026-11-22T11:00:00Z"}
    plan = {
        "min_new_labels": 0,
        "alert_min_labels": 500,
        "champion_version": "3",
        "champion_trained_at": "2026-11-22T09:00:00+00:00",
    }
    assert labels_to_wait_for(live, **plan) == (500, "2026-11-22T10:00:00.000Z")
    assert changed_since(live, "3") == "2026-11-22T10:00:00.000Z" and changed_since(live, "4") is None
    # More asked for by hand wins, counted since the champion was trained.
    assert labels_to_wait_for(live, **{**plan, "min_new_labels": 800}) == (800, "2026-11-22T09:00:00+00:00")
    # Alerts about another version than the champion wait for nothing.
    assert labels_to_wait_for(live, **{**plan, "champion_version": "4"}) == (0, "2026-11-22T09:00:00+00:00")
    # A drift report's alert covers a day of data: no wait beyond the params.
    report = describe_trigger("asset_triggered", [_windowed("r1", "2026-11-22T10:00:10Z", "airflow")], {})
    assert report.live_since == {} and changed_since(report, "3") is None
    assert labels_to_wait_for(report, **plan) == (0, "2026-11-22T09:00:00+00:00")
    assert labels_to_wait_for(describe_trigger("manual", [], {}), **plan) == (0, "2026-11-22T09:00:00+00:00")


T = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _arrived(*alerts: tuple[str, str, str, int]) -> RetrainReason:
    """A run's reason from (alert id, version, kind, seconds after T it arrived)."""
    payloads = [_alert(alert_id, kind, version) for alert_id, version, kind, _ in alerts]
    arrived = [T + timedelta(seconds=at) for *_, at in alerts]
    return describe_trigger("asset_triggered", payloads, {}, arrived=arrived)


def _run(
    run_id: str, queued: int, ended: int | None, *answers: tuple[str, str], state: str = "success"
) -> EarlierRun:
    return EarlierRun(
        run_id=run_id,
        state=state,
        queued_at=T + timedelta(seconds=queued),
        end_date=None if ended is None else T + timedelta(seconds=ended),
        answers=frozenset(answers),
    )


def test_one_run_answers_the_same_version_and_kind_arriving_while_it_is_queued_or_running() -> None:
    first = _run("r1", 0, 600, ("3", "drift"))
    # The streaming job's alert started r1; Prometheus saw the same drift 40 s later.
    assert answered_already(_arrived(("prom-1", "3", "drift", 40)), [first]) == (
        "every alert arrived while run r1, about the same version and kind, was queued or running: "
        "that run answered them"
    )
    # Another kind, another version, or after the run ended: a question of its own.
    assert answered_already(_arrived(("q-1", "3", "quality", 40)), [first]) is None
    assert answered_already(_arrived(("d-4", "4", "drift", 40)), [first]) is None
    assert answered_already(_arrived(("late", "3", "drift", 601)), [first]) is None
    assert answered_already(_arrived(("early", "3", "drift", -5)), [first]) is None
    # A run that failed answered nothing.
    failed = _run("r1", 0, 600, ("3", "drift"), state="failed")
    assert answered_already(_arrived(("prom-1", "3", "drift", 40)), [failed]) is None
    # Every alert of the run must be answered, by one run or several.
    both = _arrived(("prom-1", "3", "drift", 40), ("q-1", "3", "quality", 700))
    assert answered_already(both, [first]) is None
    later = _run("r2", 650, 900, ("3", "quality"))
    assert "run r1, r2" in (answered_already(both, [first, later]) or "")
    # Not an alert-triggered run, or no arrival time known: nothing is answered already.
    assert answered_already(describe_trigger("manual", [], {}), [first]) is None
    unknown = describe_trigger("asset_triggered", [_alert("x", "drift", "3")], {})
    assert answered_already(unknown, [first]) is None


def test_an_earlier_run_is_read_from_airflows_api() -> None:
    run = {
        "dag_run_id": "asset_triggered__2026-11-22T10:00:00",
        "state": "success",
        "queued_at": "2026-11-22T10:00:00Z",
        "run_after": "2026-11-22T09:59:59Z",
        "end_date": "2026-11-22T10:10:00Z",
    }
    why = _arrived(("a1", "3", "drift", 0), ("a2", "3", "quality", 1)).model_dump(mode="json")
    earlier = EarlierRun.from_api(run, why)
    assert earlier.answers == {("3", "drift"), ("3", "quality")}
    assert (earlier.queued_at, earlier.end_date) == (T, T + timedelta(minutes=10))
    assert EarlierRun.from_api(run | {"end_date": None}, None).answers == frozenset()
