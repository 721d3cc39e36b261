"""Apache Airflow 3 as `airflow standalone`: SQLite, LocalExecutor, the repo's DAGs and plugins."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import httpx

from closeloop.airflow_api import MODELS_PAGE_ROUTE, AirflowApi, AirflowApiError
from closeloop.stack.service import Health, Service, http_probe

__all__ = ["AirflowService"]

_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
#: The executor, by the path Airflow imports it from (plugins/ is on its sys.path).
EXECUTOR = "closeloop_airflow.executors.preloading_local.PreloadingLocalExecutor"


class AirflowService(Service):
    name = "airflow"
    depends_on = ("statsd-exporter",)
    # The first start migrates a fresh metadata database, which takes a while on 2 cores.
    startup_timeout = 300.0

    @property
    def port(self) -> int:
        return self.settings.airflow_port

    @property
    def home(self) -> Path:
        return self.data_dir

    @property
    def password_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json.generated"

    def admin_password(self) -> str | None:
        """The generated password of the `admin` user, once Airflow has written it."""
        return self.password("admin")

    def password(self, user: str) -> str | None:
        """The generated password of ``user`` (admin or viewer), once Airflow has written it."""
        if not self.password_file.exists():
            return None
        return json.loads(self.password_file.read_text()).get(user)

    def ensure_admin_password(self) -> str:
        """The admin's password; chosen here, before the first start, if Airflow has none yet.

        Airflow keeps a password it finds in its file, and the connection the
        DAGs use to write why a run ran into its note needs it up front.
        """
        password = self.admin_password()
        if password is None:
            password = secrets.token_urlsafe(18)
            self.home.mkdir(parents=True, exist_ok=True)
            self.password_file.write_text(json.dumps({"admin": password}) + "\n")
            self.password_file.chmod(0o600)
        return password

    def api(self) -> AirflowApi:
        """A REST client logged in as the standalone's admin."""
        password = self.admin_password()
        if password is None:
            raise AirflowApiError(f"no admin password yet in {self.password_file}: is Airflow up?")
        return AirflowApi(self.url, "admin", password)

    def missing(self) -> list[str]:
        if not (self.layout.venv / "bin" / "airflow").exists():
            return [f"airflow in the virtualenv {self.layout.venv}"]
        return []

    def command(self) -> list[str]:
        return [str(self.layout.venv / "bin" / "airflow"), "standalone"]

    def connections(self) -> dict[str, str]:
        """The Airflow connections the DAGs and plugins use, by id, as ``AIRFLOW_CONN_<ID>`` JSON.

        docker-compose.yaml defines the same ids with the same types for its Airflow services.
        """
        s = self.settings
        kafka_connection = {
            "conn_type": "kafka",
            "extra": {"bootstrap.servers": s.kafka_bootstrap, "group.id": "airflow"},
        }
        # The retrain DAGs' alert watchers share one consumer in the triggerer, which
        # commits an alert's offset only after its asset event is stored: auto-commit
        # must be off. A new group starts from the oldest alert kept, so none is missed.
        alerts_connection = {
            "conn_type": "kafka",
            "extra": {
                "bootstrap.servers": s.kafka_bootstrap,
                "group.id": "closeloop-airflow-alerts",
                "enable.auto.commit": "false",
                "auto.offset.reset": "earliest",
            },
        }
        # The lake's store, for the labeled-data sensor and trigger (closeloop_airflow's LakeHook)
        # and for the DAGs' tasks, which also write reports and artifacts to its other buckets.
        lake_connection = {
            "conn_type": "aws",
            "login": s.s3_access_key,
            "password": s.s3_secret_key.get_secret_value(),
            "extra": {
                "endpoint_url": s.s3_endpoint,
                "bucket": s.lake_bucket,
                "prefix": s.lake_prefix,
                "reports_bucket": s.reports_bucket,
                "artifacts_bucket": s.artifacts_bucket,
            },
        }
        # MLflow's tracking server and registry, for the DAGs' tasks (closeloop_airflow's MlflowHook).
        mlflow_connection = {"conn_type": "http", "host": s.mlflow_tracking_uri}
        # Airflow's own REST API, for tasks that annotate their run (the retrain's reason).
        api_connection = {
            "conn_type": "http",
            "host": self.url,
            "login": "admin",
            "password": self.ensure_admin_password(),
        }
        return {
            "AIRFLOW_CONN_KAFKA_DEFAULT": json.dumps(kafka_connection),
            "AIRFLOW_CONN_KAFKA_ALERTS": json.dumps(alerts_connection),
            "AIRFLOW_CONN_CLOSELOOP_LAKE": json.dumps(lake_connection),
            "AIRFLOW_CONN_CLOSELOOP_MLFLOW": json.dumps(mlflow_connection),
            "AIRFLOW_CONN_AIRFLOW_API": json.dumps(api_connection),
        }

    def environment(self) -> dict[str, str]:
        s = self.settings
        base_url = f"http://{s.host}:{s.airflow_port}"
        return {
            **super().environment(),
            # The DAGs' tasks read closeloop's settings: the same endpoints as this stack.
            **self.closeloop_environment(),
            # The Models view (the closeloop_models plugin) reads live metrics from it.
            "CLOSELOOP_PROMETHEUS_URL": f"http://{s.host}:{s.prometheus_port}",
            # standalone starts its components as `airflow …` by name.
            "PATH": f"{self.layout.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.layout.project / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.layout.project / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # A viewer besides the admin: it may read the Models view but not retrain or roll back.
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
            # Retrains must react to alerts as soon as their DAG is deployed.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # LocalExecutor, with the retrain tasks' libraries imported before its workers fork.
            "AIRFLOW__CORE__EXECUTOR": EXECUTOR,
            "AIRFLOW__CORE__PARALLELISM": str(s.airflow_parallelism),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__API__HOST": s.host,
            "AIRFLOW__API__PORT": str(s.airflow_port),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__WORKERS": "1",
            # A cold API server can take longer than the 5 s default to answer the
            # first task's worker, which then fails for no reason of its own.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            # New and edited DAG files show up within 30 s instead of 5 min.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            # retrain.py takes 3-4 s of a core to parse; its first parse, with cold caches while
            # Flink and the rest start beside it on 2 cores, can pass Airflow's 30 s and lose its DAGs.
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "180",
            # A crashed scheduler's tasks are reset and rerun within about a minute, not five.
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "60",
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": s.host,
            "AIRFLOW__METRICS__STATSD_PORT": str(s.airflow_statsd_port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
            **self.connections(),
        }

    def _check(self, response: httpx.Response) -> str | None:
        body = response.json()
        unhealthy = [c for c in _COMPONENTS if (body.get(c) or {}).get("status") != "healthy"]
        return f"waiting for {', '.join(unhealthy)}" if unhealthy else None

    def probe(self) -> Health:
        return http_probe(f"{self.url}/api/v2/monitor/health", check=self._check)

    @property
    def models_page_url(self) -> str:
        """The Models view inside Airflow's UI (the closeloop_models plugin)."""
        return f"{self.url}/plugin/{MODELS_PAGE_ROUTE}"

    def urls(self) -> dict[str, str]:
        return {"airflow": self.url, "models page": self.models_page_url}
