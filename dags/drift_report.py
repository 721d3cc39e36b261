"""
### Drift report: {model_name}

{description}

Nightly and on demand: Evidently's data-drift and {task} quality presets for
the champion's training data (reference) against the labeled examples of the
last `window_days` in the lake (current).

- **report**: builds the report; saves HTML and JSON to the reports bucket
  and to an MLflow run (experiment `{model_name}`, run name `drift-report-…`).
  With fewer than `min_rows` recent examples it skips, and says why.
- **publish_alert**: a drift share over `drift_share_threshold` becomes a
  `drift` alert on `closeloop.alerts`, which the retrain DAG listens to.
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task
from closeloop_airflow.hooks.connection_settings import settings_from_connections
from closeloop_airflow.hooks.lake import LakeHook
from closeloop_airflow.hooks.mlflow_tracking import MlflowHook
from closeloop_airflow.operators.publish_event import PublishEventOperator

from closeloop.config import get_settings
from training.usecases.registry import USE_CASES, use_case_class

NIGHTLY = "30 1 * * *"


def drift_report_dag(
    use_case_name: str,
    *,
    lake_conn_id: str = LakeHook.default_conn_name,
    mlflow_conn_id: str = MlflowHook.default_conn_name,
    kafka_config_id: str = "kafka_default",
) -> None:
    """The drift-report DAG of one use case; its report reads the lake and MLflow through these
    connections, and its alert goes to Kafka through ``kafka_config_id``."""
    info = use_case_class(use_case_name)
    settings = get_settings()

    @dag(
        dag_id=f"drift_report_{use_case_name}",
        schedule=CronTriggerTimetable(NIGHTLY, timezone="UTC"),
        catchup=False,
        max_active_runs=1,
        doc_md=__doc__.format(model_name=info.model_name, description=info.description, task=info.task),
        tags=["closeloop", "drift", use_case_name],
        params={
            "window_days": Param(
                1.0,
                type="number",
                exclusiveMinimum=0,
                title="Window (days)",
                description="Recent labeled examples from this many days back.",
            ),
            "drift_share_threshold": Param(
                settings.drift_share_threshold,
                type="number",
                exclusiveMinimum=0,
                maximum=1,
                title="Drift share threshold",
                description="Alert when more than this share of the features drifted.",
            ),
            "min_rows": Param(
                50,
                type="integer",
                minimum=1,
                title="Minimum rows",
                description="Skip the report with fewer recent labeled examples than this.",
            ),
        },
    )
    def drift_report() -> None:
        @task(multiple_outputs=True)
        def report() -> dict:
            from training.drift_report_step import run_drift_report

            context = get_current_context()
            params = context["params"]
            result = run_drift_report(
                settings_from_connections(lake_conn_id=lake_conn_id, mlflow_conn_id=mlflow_conn_id),
                use_case_name,
                window_days=float(params["window_days"]),
                threshold=float(params["drift_share_threshold"]),
                min_rows=int(params["min_rows"]),
                end=context["dag_run"].run_after,
            )
            return result

        PublishEventOperator(
            task_id="publish_alert",
            topic=settings.topics.alerts,
            event=report()["alert"],
            kafka_config_id=kafka_config_id,
        )

    drift_report()


for _name in USE_CASES:
    drift_report_dag(_name)
