"""The retrain's steps as plain functions: what each task of a ``retrain_<use case>`` DAG calls.

Each step takes and returns small JSON-able values (the DAG passes them as
XComs) and reads the services from closeloop's one configuration, so a step
runs the same from Airflow, a test or a notebook.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.lake import read_labeled
from closeloop.raw_inputs import RawInputStore
from closeloop.s3 import s3_client
from training import import_skops
from training.dataset import DatasetSnapshot, build_dataset, load_snapshot, save_snapshot
from training.gate import GateDecision, GatePolicy, Scores, decide
from training.promotion import (
    CANARY,
    CHAMPION,
    ROLLOUT_TAG,
    AliasMove,
    alias_version,
    apply_decision,
    champion,
    conclude_canary,
    conclude_watch,
    model_tags,
    model_update,
    start_canary,
)
from training.reasons import (
    EarlierRun,
    answered_already,
    changed_since,
    choose_rollout,
    describe_trigger,
    labels_to_wait_for,
    stale_alerts,
)
from training.train import train_and_register
from training.usecases import UseCase, get_use_case

__all__ = [
    "DATASETS_PREFIX",
    "build_snapshot",
    "end_canary",
    "end_watch",
    "gate",
    "run_reason",
    "train",
]

_log = logging.getLogger(__name__)

#: Dataset snapshots live at artifacts_bucket/DATASETS_PREFIX/<model>/<snapshot id>/.
DATASETS_PREFIX = "datasets"


def run_reason(
    settings: Settings,
    use_case_name: str,
    *,
    run_type: str,
    triggering_asset_events: Mapping[Any, Any],
    params: Mapping[str, Any],
    earlier: Iterable[EarlierRun] = (),
) -> dict[str, Any]:
    """Why this run happened, and who is champion now (version, and when it was trained).

    ``triggering_asset_events`` is Airflow's accessor (asset -> asset events);
    an alert's payload is in each event's ``extra["payload"]``. ``earlier``:
    the DAG's finished runs, which may have answered this run's alerts.
    """
    events = [event for events in triggering_asset_events.values() for event in events]
    payloads = [(event.extra or {}).get("payload") or {} for event in events]
    arrived = [getattr(event, "timestamp", None) for event in events]
    reason = describe_trigger(run_type, payloads, params, arrived=arrived)
    _log.info("why: %s", reason.summary)
    model_name = get_use_case(use_case_name).model_name
    client = MlflowClient(settings.mlflow_tracking_uri)
    version, trained_at = champion(client, model_name)
    champion_trained_at = trained_at.isoformat() if trained_at else None
    wait_for, wait_since = labels_to_wait_for(
        reason,
        min_new_labels=int(params.get("min_new_labels") or 0),
        alert_min_labels=settings.alert_retrain_min_labels,
        champion_version=version,
        champion_trained_at=champion_trained_at,
    )
    rollout, rollout_why = choose_rollout(
        str(params.get("rollout") or "auto"),
        reason,
        version,
        model_policy=model_tags(client, model_name).get(ROLLOUT_TAG),
    )
    return {
        **reason.model_dump(mode="json"),
        "champion_version": version,
        "champion_trained_at": champion_trained_at,
        "stale": stale_alerts(reason, version) or answered_already(reason, earlier),
        "wait_for_labels": wait_for,
        "wait_since": wait_since,
        "changed_since": changed_since(reason, version),
        "rollout": rollout,
        "rollout_why": rollout_why,
    }


def build_snapshot(
    settings: Settings,
    use_case_name: str,
    *,
    window_days: float,
    holdout_fraction: float,
    holdout_since: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Base data plus the last ``window_days`` of labeled feedback, saved; returns its URI and counts.

    ``holdout_since`` (ISO; the ``changed_since`` of a run an alert started): the holdout is the
    newest share of the feedback since then (build_dataset)."""
    use_case = get_use_case(use_case_name)
    end = now or datetime.now(UTC)
    start = end - timedelta(days=window_days)
    rows = read_labeled(settings, model_name=use_case.model_name, since=start).to_pandas()
    dataset = build_dataset(
        use_case,
        rows,
        start=start,
        end=end,
        holdout_fraction=holdout_fraction,
        holdout_since=datetime.fromisoformat(holdout_since) if holdout_since else None,
        fetch=RawInputStore.from_settings(settings).fetch,
    )
    snapshot = save_snapshot(
        s3_client(settings),
        settings.artifacts_bucket,
        DATASETS_PREFIX,
        use_case.model_name,
        dataset,
        metadata={
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "holdout_since": holdout_since,
        },
    )
    _log.info("dataset snapshot %s: %s", snapshot.uri, snapshot.counts)
    return asdict(snapshot)


def train(
    settings: Settings,
    use_case_name: str,
    snapshot: Mapping[str, Any],
    *,
    reason: str,
    params: Mapping[str, Any] | None = None,
    trained_by: str | None = None,
) -> dict[str, Any]:
    """Train and register a challenger on the snapshot; returns its version, run and metrics.

    ``trained_by`` names the task (an Airflow dag/run id): its retries reuse the version it registered.
    """
    use_case = get_use_case(use_case_name)
    s3 = s3_client(settings)
    dataset = load_snapshot(s3, snapshot["uri"])
    trained = train_and_register(
        use_case,
        dataset,
        DatasetSnapshot(**snapshot),
        tracking_uri=settings.mlflow_tracking_uri,
        s3=s3,
        profiles_bucket=settings.lake_bucket,
        profiles_prefix=settings.profiles_prefix,
        params=params,
        reason=reason,
        profile_min_recent_rows=settings.profile_min_recent_rows,
        trained_by=trained_by,
    )
    return asdict(trained)


def _scores(use_case: UseCase, model: Any, holdout: pd.DataFrame, test: pd.DataFrame) -> Scores:
    metric = use_case.primary_metric
    return Scores(
        holdout=use_case.evaluate(model, holdout)[metric] if len(holdout) else None,
        test=use_case.evaluate(model, test)[metric],
    )


def gate(
    settings: Settings,
    use_case_name: str,
    snapshot: Mapping[str, Any],
    version: str,
    *,
    policy: GatePolicy,
    force: bool = False,
    rollout: str = "direct",
    canary_share: float | None = None,
) -> dict[str, Any]:
    """Score the challenger and the champion on the snapshot's holdout and test set; on a pass,
    promote it ("direct") or make it the canary ("canary", when there is a champion to compare with).

    Returns the decision, the rollout it took, the model-update to publish
    (the champion moved, with when; or the canary's), and the canary phase's
    start if it began.
    """
    use_case = get_use_case(use_case_name)
    client = MlflowClient(settings.mlflow_tracking_uri)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    dataset = load_snapshot(s3_client(settings), snapshot["uri"], splits=("holdout", "test"))
    name = use_case.model_name
    import_skops()

    challenger = _scores(
        use_case, mlflow.pyfunc.load_model(f"models:/{name}/{version}"), dataset.holdout, dataset.test
    )
    champion_version = alias_version(client, name, CHAMPION)
    champion = None
    if champion_version is not None and champion_version != version:
        champion = _scores(
            use_case,
            mlflow.pyfunc.load_model(f"models:/{name}/{champion_version}"),
            dataset.holdout,
            dataset.test,
        )
    decision: GateDecision = decide(
        metric=use_case.primary_metric,
        higher_is_better=use_case.higher_is_better,
        challenger=challenger,
        champion=champion,
        policy=policy,
        force=force,
    )
    as_canary = rollout == "canary" and champion is not None
    move = apply_decision(client, name, version, decision, promote=not as_canary)
    result: dict[str, Any] = {
        "decision": decision.model_dump(mode="json"),
        "champion_version": champion_version,
        "rollout": "canary" if as_canary else "direct",
        "update": None,
        "promoted_at": None,
        "canary": None,
    }
    if decision.passed and as_canary:
        started = start_canary(client, name, version, share=canary_share)
        result["canary"] = {"version": version, "champion": champion_version, "since": started.isoformat()}
        # The gateway loads a canary on its event at once, rather than at its next registry poll.
        announced = AliasMove(name, version, champion_version, f"canary: {decision.reason}")
        result["update"] = model_update(client, announced, alias=CANARY).model_dump(mode="json")
    elif move is not None:
        result.update(_moved(client, move))
    return result


def _moved(client: MlflowClient, move: AliasMove) -> dict[str, Any]:
    return {
        "update": model_update(client, move).model_dump(mode="json"),
        "promoted_at": datetime.now(UTC).isoformat(),
    }


def end_canary(
    settings: Settings, use_case_name: str, canary: Mapping[str, Any], verdict: Mapping[str, Any]
) -> dict[str, Any]:
    """Promote the canary or drop it, on the live sensor's ``verdict`` (``status`` "timeout": there
    was none in time, and the canary is dropped).

    Returns the verdict, whether it timed out, and the model-update to publish: the champion's move,
    or the canary alias's removal.
    """
    client = MlflowClient(settings.mlflow_tracking_uri)
    name = get_use_case(use_case_name).model_name
    move = conclude_canary(client, name, canary["version"], verdict)
    result: dict[str, Any] = {
        "verdict": dict(verdict),
        "timed_out": verdict.get("status") == "timeout",
        "update": None,
    }
    if move is not None:
        result.update(_moved(client, move))
    else:
        # The gateway stops serving a dropped canary at once, not at its next registry poll.
        why = f"canary dropped: {verdict.get('reason')}"
        dropped = AliasMove(name, canary["version"], canary["champion"], why)
        result["update"] = model_update(client, dropped, alias=CANARY, removed=True).model_dump(mode="json")
    return result


def end_watch(
    settings: Settings, use_case_name: str, version: str, verdict: Mapping[str, Any], *, by: str
) -> dict[str, Any]:
    """Roll the watched champion back if the watch's ``verdict`` failed it; returns the verdict and the
    model-update to publish if it was rolled back."""
    client = MlflowClient(settings.mlflow_tracking_uri)
    move = conclude_watch(client, get_use_case(use_case_name).model_name, version, verdict, by=by)
    result: dict[str, Any] = {"verdict": dict(verdict), "update": None}
    if move is not None:
        result["update"] = model_update(client, move).model_dump(mode="json")
    return result
