"""
### Platform check

Can Airflow's workers reach what closeloop runs on, and does it hold what
closeloop needs? Trigger this DAG after `closeloop up`, after changing a
connection, or when a retrain fails for reasons that look like plumbing.

- **kafka_topics**: every closeloop topic exists, read through the Kafka
  connection (`kafka_default` unless the `kafka_config_id` param says otherwise);
- **s3_buckets**: the lake, reports and artifact buckets exist, read through
  the lake's connection (`closeloop_lake` unless the `lake_conn_id` param says otherwise);
- **mlflow_registry**: the MLflow tracking server answers, reached through
  MLflow's connection (`closeloop_mlflow` unless the `mlflow_conn_id` param says otherwise).

Each task fails with a message that names what is missing and where.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task


@dag(
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["closeloop", "platform"],
    params={
        "kafka_config_id": Param(
            "kafka_default",
            type="string",
            title="Kafka connection",
            description="The Airflow connection to reach Kafka through.",
        ),
        "lake_conn_id": Param(
            "closeloop_lake",
            type="string",
            title="S3 connection",
            description="The Airflow connection to reach the lake's S3 store through.",
        ),
        "mlflow_conn_id": Param(
            "closeloop_mlflow",
            type="string",
            title="MLflow connection",
            description="The Airflow connection to reach MLflow's tracking server through.",
        ),
    },
)
def platform_check() -> None:
    @task
    def kafka_topics(params: dict | None = None) -> list[str]:
        from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook

        from closeloop.config import get_settings
        from closeloop.platform_checks import check_topics

        conn_id = (params or {}).get("kafka_config_id", "kafka_default")
        metadata = KafkaAdminClientHook(kafka_config_id=conn_id).get_conn.list_topics(timeout=10)
        return check_topics(metadata.topics, get_settings().topics.all(), where=conn_id)

    @task
    def s3_buckets(params: dict | None = None) -> list[str]:
        from closeloop_airflow.hooks.connection_settings import settings_from_connections
        from closeloop_airflow.hooks.lake import LakeHook

        from closeloop.platform_checks import check_buckets

        conn_id = (params or {}).get("lake_conn_id", "closeloop_lake")
        # The buckets the DAGs' tasks use: the lake connection's, the rest from the configuration.
        expected = settings_from_connections(lake_conn_id=conn_id, mlflow_conn_id=None).buckets
        present = [b.name for b in LakeHook(lake_conn_id=conn_id).get_conn().list_buckets()]
        return check_buckets(present, expected, where=f"connection {conn_id!r}")

    @task
    def mlflow_registry(params: dict | None = None) -> str:
        from closeloop_airflow.hooks.mlflow_tracking import MlflowHook

        from closeloop.platform_checks import check_mlflow

        conn_id = (params or {}).get("mlflow_conn_id", "closeloop_mlflow")
        return check_mlflow(MlflowHook(mlflow_conn_id=conn_id).tracking_uri)

    kafka_topics()
    s3_buckets()
    mlflow_registry()


platform_check()
