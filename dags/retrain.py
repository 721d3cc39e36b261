"""
### Retrain {model_name}

{description}

Runs **nightly**, **when a closeloop alert about `{model_name}` arrives** on
Kafka (the asset `{asset}`, watched by the triggerer), or **by hand** with the
params below. At most one run is active at a time; alerts that arrive
meanwhile start the next run.

1. **why**: records what triggered the run (alert id and kind, the schedule,
   or the params of a manual run) in the run's note and its XCom. A run whose
   alerts are all about versions that are no longer the champion skips the
   rest: the champion changed since, so the alert is answered already. So
   does a run whose alerts all arrived while an earlier run, started for
   alerts about the same version and kind, was queued or running: one
   condition is often seen by both the streaming job and Prometheus.
2. **wait_for_labels**: with `min_new_labels` > 0, waits (deferred, in the
   triggerer) for that many labeled examples since the champion was trained.
   A run an alert started waits for `CLOSELOOP_ALERT_RETRAIN_MIN_LABELS` (500)
   examples since the condition began (the first window that broke the
   alert's rule): the newest feedback is held out for the gate, and the
   challenger must also train on what set the alert off.
3. **build_dataset**: base data plus the feedback in the lake over the data
   window, deduplicated; the newest share held out (after an alert, the
   newest share of the feedback since the condition began); saved as a
   snapshot in MinIO.
4. **train**: a challenger, logged to MLflow with its reference profile and
   registered as a new version.
5. **gate**: challenger vs champion on the recent holdout and the base test
   set; the decision is tagged on the version. A pass either moves the
   `champion` alias at once (rollout "direct"; the old one keeps
   `previous_champion`) or gives the challenger the `canary` alias (rollout
   "canary"): the gateway sends it a share of the traffic.
6. **publish_update**: a direct promotion's model-update event to
   `closeloop.model-updates`: the gateway and the streaming job follow it.
7. **rollout** chooses what follows the gate:
   - **live_canary** waits (deferred) until the streaming job's windows hold
     enough labeled examples of the canary and the champion over the same
     span, and judges the canary by the live rule (the params under "Live");
     **end_canary** promotes it, or drops its alias, tagging the verdict on
     the version (`closeloop.live.*`) and in the run's note, and
     **publish_canary_update** announces the promotion, or the drop (the
     gateway stops serving the canary at once). No decision within
     `canary_minutes` drops the canary and fails the run, saying why.
   - **watch**, after a direct promotion, compares the new champion's live
     windows with its predecessor's last ones for `watch_minutes`;
     **end_watch** rolls it back (the `closeloop rollback` path) if it is
     worse by more than the live margin, and **publish_rollback** announces it.

The rollout "auto" is "direct" for a run a quality alert started (the
champion is already failing) and "canary" otherwise; the first model of a use
case is always promoted directly.

A failed task is retried (`CLOSELOOP_RETRAIN_TASK_RETRIES`, 2); **train**
returns the version an earlier try of the same run completed.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    AssetWatcher,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from closeloop_airflow.hooks.airflow_api import AirflowApiHook
from closeloop_airflow.hooks.connection_settings import settings_from_connections
from closeloop_airflow.hooks.lake import LakeHook
from closeloop_airflow.hooks.mlflow_tracking import MlflowHook
from closeloop_airflow.operators.publish_event import PublishEventOperator
from closeloop_airflow.sensors.labeled_data import WaitForLabeledDataSensor
from closeloop_airflow.sensors.live_metrics import LiveMetricsSensor, PromotionWatchSensor
from closeloop_airflow.triggers.await_alert import AwaitAlertTrigger

from closeloop.config import Settings, get_settings
from training.reasons import ROLLOUT_CHOICES
from training.usecases.registry import USE_CASES, use_case_class

NIGHTLY = "0 2 * * *"
log = logging.getLogger(__name__)


def alerts_asset(model_name: str, *, kafka_config_id: str = "kafka_alerts") -> Asset:
    settings = get_settings()
    return Asset(
        name=f"alerts_{model_name}",
        uri=f"kafka://{settings.kafka_bootstrap}/{settings.topics.alerts}/{model_name}",
        group="closeloop-alerts",
        watchers=[
            AssetWatcher(
                name=f"alerts_{model_name}",
                trigger=AwaitAlertTrigger(
                    model_name=model_name, topics=[settings.topics.alerts], kafka_config_id=kafka_config_id
                ),
            )
        ],
    )


def _note(context: dict, reason: dict, outcome: str) -> None:
    """The run's note: why it ran, then how its rollout ended."""
    dag_run = context["dag_run"]
    try:
        AirflowApiHook().set_note(dag_run.dag_id, dag_run.run_id, f"why: {reason['summary']}; {outcome}")
    except Exception as exc:  # the outcome is in the task's XCom and on the version anyway
        log.warning("cannot write the outcome into the run's note: %s", exc)


def retrain_dag(
    use_case_name: str,
    *,
    lake_conn_id: str = LakeHook.default_conn_name,
    mlflow_conn_id: str = MlflowHook.default_conn_name,
    kafka_config_id: str = "kafka_default",
    alerts_kafka_config_id: str = "kafka_alerts",
) -> None:
    """The retrain DAG of one use case; its tasks reach the lake, S3 and MLflow through these
    connections, Kafka through ``kafka_config_id`` (publishing) and ``alerts_kafka_config_id`` (the
    alert watcher). The params' defaults and topic names come from closeloop's configuration."""
    info = use_case_class(use_case_name)
    settings = get_settings()
    asset = alerts_asset(info.model_name, kafka_config_id=alerts_kafka_config_id)

    def task_settings() -> Settings:
        return settings_from_connections(lake_conn_id=lake_conn_id, mlflow_conn_id=mlflow_conn_id)

    @dag(
        dag_id=f"retrain_{use_case_name}",
        schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable(NIGHTLY, timezone="UTC"), assets=asset),
        catchup=False,
        max_active_runs=1,
        # A task lost with a crashed scheduler or worker is failed by its missing heartbeat: retried.
        default_args={"retries": settings.retrain_task_retries, "retry_delay": timedelta(seconds=15)},
        doc_md=__doc__.format(model_name=info.model_name, description=info.description, asset=asset.name),
        tags=["closeloop", "retrain", use_case_name],
        params={
            "force": Param(
                False,
                type="boolean",
                title="Force promotion",
                description="Promote the challenger even if the gate says no (the reason records it).",
                section="Gate",
            ),
            "margin": Param(
                settings.gate_margin,
                type="number",
                minimum=0,
                title="Margin",
                description=f"How much better on the recent holdout ({info.primary_metric}) to be promoted.",
                section="Gate",
            ),
            "tolerance": Param(
                settings.gate_tolerance,
                type="number",
                minimum=0,
                title="Tolerance",
                description=f"How much worse on the base test set ({info.primary_metric}) is still fine.",
                section="Gate",
            ),
            "window_days": Param(
                settings.retrain_window_days,
                type="number",
                exclusiveMinimum=0,
                title="Data window (days)",
                description="Labeled feedback from this many days back joins the base data.",
                section="Data",
            ),
            "holdout_fraction": Param(
                settings.holdout_fraction,
                type="number",
                minimum=0,
                exclusiveMaximum=1,
                title="Holdout fraction",
                description="The newest share of the feedback, kept out of training for the gate.",
                section="Data",
            ),
            "min_new_labels": Param(
                0,
                type="integer",
                minimum=0,
                title="Wait for new labels",
                description="Wait for this many labeled examples since the champion was trained (0: don't).",
                section="Data",
            ),
            "rollout": Param(
                settings.retrain_rollout,
                type="string",
                enum=list(ROLLOUT_CHOICES),
                title="Rollout",
                description="How a challenger that passed the gate reaches the traffic: as a canary judged "
                "on live feedback, or promoted directly and watched. auto: direct after a quality alert, "
                "canary otherwise.",
                section="Live",
            ),
            "canary_share": Param(
                None,
                type=["null", "number"],
                minimum=0,
                maximum=1,
                title="Canary share",
                description="The canary's share of the traffic (empty: the gateway's CLOSELOOP_CANARY_SHARE)",
                section="Live",
            ),
            "live_margin": Param(
                settings.live_margin,
                type="number",
                minimum=0,
                title="Live margin",
                description=f"How much worse on live traffic ({info.primary_metric}) the canary may be than "
                "the champion, or a new champion than its predecessor before it is rolled back.",
                section="Live",
            ),
            "live_confidence": Param(
                settings.live_confidence,
                type="number",
                exclusiveMinimum=0.5,
                exclusiveMaximum=1,
                title="Live confidence",
                description="Confidence of the one-sided test on the live windows.",
                section="Live",
            ),
            "live_min_labeled": Param(
                settings.live_min_labeled,
                type="integer",
                minimum=1,
                title="Live labeled examples",
                description="Labeled examples of each version before the live gate decides.",
                section="Live",
            ),
            "live_min_windows": Param(
                settings.live_min_windows,
                type="integer",
                minimum=2,
                title="Live windows",
                description="Windows both versions must share before the live gate decides.",
                section="Live",
            ),
            "live_latency_ratio": Param(
                None,
                type=["null", "number"],
                exclusiveMinimum=0,
                title="Canary p99 latency ratio",
                description="If set, the canary's p99 latency may be at most this many times the champion's.",
                section="Live",
            ),
            "live_error_rate_margin": Param(
                None,
                type=["null", "number"],
                minimum=0,
                title="Canary error rate margin",
                description="If set, the canary's error rate may exceed the champion's by at most this much.",
                section="Live",
            ),
            "canary_minutes": Param(
                settings.canary_minutes,
                type="number",
                exclusiveMinimum=0,
                title="Canary phase (minutes)",
                description="How long the canary may wait for enough live labels before it is dropped.",
                section="Live",
            ),
            "watch_minutes": Param(
                settings.promotion_watch_minutes,
                type="number",
                minimum=0,
                title="Watch after promotion (minutes)",
                description="How long a direct promotion is watched against its predecessor (0: not at all).",
                section="Live",
            ),
        },
    )
    def retrain() -> None:
        @task
        def why() -> dict:
            from training.pipeline import run_reason
            from training.reasons import EarlierRun

            context = get_current_context()
            dag_run = context["dag_run"]
            try:
                finished = AirflowApiHook().finished_runs(dag_run.dag_id, exclude=dag_run.run_id)
            except Exception as exc:  # then every alert counts as new: a retrain too many, not one too few
                log.warning("cannot read the earlier runs: %s", exc)
                finished = []
            reason = run_reason(
                task_settings(),
                use_case_name,
                run_type=str(dag_run.run_type),
                triggering_asset_events=context["triggering_asset_events"],
                params=dict(context["params"]),
                earlier=[EarlierRun.from_api(run, run["why"]) for run in finished],
            )
            note = f"why: {reason['summary']}" + (f"; skipped: {reason['stale']}" if reason["stale"] else "")
            try:
                AirflowApiHook().set_note(dag_run.dag_id, dag_run.run_id, note)
            except Exception as exc:  # the reason is in this task's XCom anyway
                log.warning("cannot write the reason into the run's note: %s", exc)
            if reason["stale"]:
                raise AirflowSkipException(reason["stale"])
            return reason

        wait_for_labels = WaitForLabeledDataSensor(
            task_id="wait_for_labels",
            model_name=info.model_name,
            min_examples="{{ (ti.xcom_pull(task_ids='why') or {}).get('wait_for_labels', 0) }}",
            since="{{ (ti.xcom_pull(task_ids='why') or {}).get('wait_since') or '' }}",
            poll_interval=settings.labels_poll_s,
            lake_conn_id=lake_conn_id,
        )

        @task
        def build_dataset(reason: dict) -> dict:
            from training.pipeline import build_snapshot

            params = get_current_context()["params"]
            return build_snapshot(
                task_settings(),
                use_case_name,
                window_days=float(params["window_days"]),
                holdout_fraction=float(params["holdout_fraction"]),
                holdout_since=reason.get("changed_since"),
            )

        @task
        def train(snapshot: dict, reason: dict) -> dict:
            from training.pipeline import train as train_challenger

            dag_run = get_current_context()["dag_run"]
            return train_challenger(
                task_settings(),
                use_case_name,
                snapshot,
                reason=reason["summary"],
                trained_by=f"{dag_run.dag_id}/{dag_run.run_id}",
            )

        @task(multiple_outputs=True)
        def gate(snapshot: dict, trained: dict, reason: dict) -> dict:
            from training.gate import GatePolicy
            from training.pipeline import gate as run_gate

            params = get_current_context()["params"]
            share = params.get("canary_share")
            return run_gate(
                task_settings(),
                use_case_name,
                snapshot,
                trained["version"],
                policy=GatePolicy(margin=float(params["margin"]), tolerance=float(params["tolerance"])),
                force=bool(params["force"]),
                rollout=reason["rollout"],
                canary_share=None if share is None else float(share),
            )

        @task.branch
        def rollout(gated: dict) -> str | None:
            """The canary's live gate, the watch after a direct promotion, or nothing more to do."""
            params = get_current_context()["params"]
            if gated["canary"] is not None:
                return "live_canary"
            update = gated["update"]
            if update is not None and update["previous_version"] and float(params["watch_minutes"]) > 0:
                return "watch"
            return None

        def rule() -> dict:
            # Templated: the run's params, read when the sensor runs.
            return {
                "metric": info.primary_metric,
                "higher_is_better": info.higher_is_better,
                "margin": "{{ params.live_margin }}",
                "confidence": "{{ params.live_confidence }}",
                "min_labeled": "{{ params.live_min_labeled }}",
                "min_windows": "{{ params.live_min_windows }}",
                "latency_ratio": "{{ params.live_latency_ratio }}",
                "error_rate_margin": "{{ params.live_error_rate_margin }}",
            }

        gated = "ti.xcom_pull(task_ids='gate')"
        live_canary = LiveMetricsSensor(
            task_id="live_canary",
            model_name=info.model_name,
            canary=f"{{{{ {gated}['canary']['version'] }}}}",
            champion=f"{{{{ {gated}['canary']['champion'] }}}}",
            since=f"{{{{ {gated}['canary']['since'] }}}}",
            wait_minutes="{{ params.canary_minutes }}",
            fail_on_timeout=False,
            rule=rule(),
            topic=settings.topics.metrics,
            poll_interval=settings.live_poll_s,
            kafka_config_id=kafka_config_id,
            retries=0,
        )

        @task
        def end_canary(gated: dict, reason: dict, verdict: dict) -> dict:
            """Promote or drop the canary on the sensor's verdict; on a timeout, drop it and fail."""
            from training.pipeline import end_canary as conclude

            context = get_current_context()
            ended = conclude(task_settings(), use_case_name, gated["canary"], verdict)
            _note(context, reason, f"canary {gated['canary']['version']}: {ended['verdict']['reason']}")
            if ended["timed_out"]:
                raise AirflowFailException(ended["verdict"]["reason"])
            return ended

        watch = PromotionWatchSensor(
            task_id="watch",
            model_name=info.model_name,
            champion=f"{{{{ {gated}['update']['version'] }}}}",
            previous=f"{{{{ {gated}['update']['previous_version'] }}}}",
            promoted_at=f"{{{{ {gated}['promoted_at'] }}}}",
            watch_seconds="{{ params.watch_minutes * 60 }}",
            rule=rule(),
            topic=settings.topics.metrics,
            poll_interval=settings.live_poll_s,
            kafka_config_id=kafka_config_id,
            retries=0,
        )

        @task
        def end_watch(gated: dict, reason: dict, verdict: dict) -> dict:
            """Roll the new champion back if the watch found it worse than its predecessor."""
            from training.pipeline import end_watch as conclude

            context = get_current_context()
            dag_run = context["dag_run"]
            version = gated["update"]["version"]
            ended = conclude(
                task_settings(),
                use_case_name,
                version,
                verdict,
                by=f"the watch of {dag_run.dag_id}/{dag_run.run_id}",
            )
            _note(context, reason, f"watch of {version}: {verdict['reason']}")
            return ended

        reason = why()
        snapshot = build_dataset(reason)
        reason >> wait_for_labels >> snapshot
        decision = gate(snapshot, train(snapshot, reason), reason)
        published = PublishEventOperator(
            task_id="publish_update",
            topic=settings.topics.model_updates,
            event=decision["update"],
            kafka_config_id=kafka_config_id,
        )
        chosen = rollout(decision)
        chosen >> [live_canary, watch]
        published >> watch
        canary_ended = end_canary(decision, reason, live_canary.output)
        PublishEventOperator(
            task_id="publish_canary_update",
            topic=settings.topics.model_updates,
            event=canary_ended["update"],
            kafka_config_id=kafka_config_id,
        )
        watched = end_watch(decision, reason, watch.output)
        PublishEventOperator(
            task_id="publish_rollback",
            topic=settings.topics.model_updates,
            event=watched["update"],
            kafka_config_id=kafka_config_id,
        )

    retrain()


for _name in USE_CASES:
    retrain_dag(_name)
