"""
### Batch predictions: {model_name}

{description}

By hand, with the params below: predicts every file in a MinIO folder with
the version an alias names (the champion by default), the model the gateway
serves, which reads a file as it reads a request's input.

**predict** lists the folder ({inputs}), predicts each file, writes the
predictions as Parquet next to the files (`predictions-<run id>.parquet`) and
publishes one prediction event per input to `closeloop.predictions`, so that
feedback given later joins them in the streaming job like the gateway's. A
file that cannot be read or predicted is counted and named in the run's
note; the others are predicted. A retried task publishes the same prediction
ids again, which the streaming job deduplicates.
"""

from __future__ import annotations

import logging

from airflow.sdk import Param, dag, get_current_context, task
from closeloop_airflow.hooks.airflow_api import AirflowApiHook
from closeloop_airflow.hooks.connection_settings import settings_from_connections
from closeloop_airflow.hooks.lake import LakeHook
from closeloop_airflow.hooks.mlflow_tracking import MlflowHook

from closeloop.config import get_settings
from training.usecases.registry import USE_CASES, use_case_class

log = logging.getLogger(__name__)


def batch_predict_dag(
    use_case_name: str,
    *,
    lake_conn_id: str = LakeHook.default_conn_name,
    mlflow_conn_id: str = MlflowHook.default_conn_name,
    kafka_config_id: str = "kafka_default",
) -> None:
    """The batch-prediction DAG of one use case: MinIO and MLflow through these connections, the
    events to Kafka through ``kafka_config_id``."""
    info = use_case_class(use_case_name)
    settings = get_settings()
    inputs = (
        "one image or recording per file" if info.raw_inputs else "Parquet or CSV tables, a row per input"
    )

    @dag(
        dag_id=f"batch_predict_{use_case_name}",
        schedule=None,
        catchup=False,
        doc_md=__doc__.format(model_name=info.model_name, description=info.description, inputs=inputs),
        tags=["closeloop", "batch", use_case_name],
        params={
            "folder": Param(
                f"s3://{settings.lake_bucket}/batch/{use_case_name}/",
                type="string",
                pattern=r"^s3://[^/]+/.+",
                title="Input folder",
                description=f"s3://<bucket>/<folder>/ of the files to predict ({inputs}).",
            ),
            "alias": Param(
                "champion",
                type="string",
                minLength=1,
                title="Model alias",
                description=f"The version of {info.model_name} that predicts: champion, previous_champion, …",
            ),
        },
    )
    def batch_predict() -> None:
        @task
        def predict() -> dict:
            from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook

            from closeloop.kafka.publish import deliver
            from training.batch_predict import run_batch

            context = get_current_context()
            dag_run, params = context["dag_run"], context["params"]
            result, summary = run_batch(
                settings_from_connections(lake_conn_id=lake_conn_id, mlflow_conn_id=mlflow_conn_id),
                use_case_name,
                str(params["folder"]),
                alias=str(params["alias"]),
                run_id=dag_run.run_id,
            )
            producer = KafkaProducerHook(kafka_config_id=kafka_config_id).get_producer()
            topic = settings.topics.predictions
            summary["published"] = deliver(producer, topic, result.events, where=kafka_config_id)
            note = f"{summary['model_name']} v{summary['model_version']}: {summary['summary']}"
            try:
                AirflowApiHook().set_note(dag_run.dag_id, dag_run.run_id, note[:1000])
            except Exception as exc:  # the summary is in this task's XCom anyway
                log.warning("cannot write the counts into the run's note: %s", exc)
            return summary

        predict()

    batch_predict()


for _name in USE_CASES:
    batch_predict_dag(_name)
