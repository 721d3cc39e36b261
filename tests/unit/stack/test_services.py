"""What each service would run and write, checked without starting anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from closeloop.config import PROJECT_ROOT
from closeloop.errors import SetupMissingError, StackError
from closeloop.stack.layout import Layout
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from closeloop.stack.services.feedback_job import FeedbackJobService
from closeloop.stack.services.flink import FlinkService
from closeloop.stack.services.kafka import KafkaService
from closeloop.stack.services.metrics_exporter import MetricsExporterService
from closeloop.stack.services.preprocess_job import PreprocessJobService
from closeloop.stack.services.prometheus import SCRAPE_JOBS, PrometheusService
from closeloop.stack.settings import StackSettings


@pytest.fixture
def settings(tmp_path: Path) -> StackSettings:
    # The real home (what `make setup` installed), a private state directory.
    return StackSettings(_env_file=None, state_dir=tmp_path / "state", kafka_port=19092)  # type: ignore[call-arg]


@pytest.fixture
def layout(settings: StackSettings) -> Layout:
    return Layout.from_settings(settings)


def test_select_adds_dependencies_in_start_order(settings: StackSettings) -> None:
    stack = LocalStack(settings)
    assert [s.name for s in stack.select(["mlflow"], with_dependencies=True)] == ["minio", "mlflow"]
    assert [s.name for s in stack.select(["mlflow"], with_dependencies=False)] == ["mlflow"]
    assert [s.name for s in stack.select(["airflow"], with_dependencies=True)] == [
        "statsd-exporter",
        "airflow",
    ]
    assert len(stack.select(None, with_dependencies=False)) == len(stack.services)


def test_unknown_service_lists_the_known_ones(settings: StackSettings) -> None:
    with pytest.raises(StackError, match=r"unknown service 'zookeeper'.*kafka, minio"):
        LocalStack(settings).select(["zookeeper"], with_dependencies=True)


def test_up_without_setup_names_what_is_missing(tmp_path: Path) -> None:
    bare = StackSettings(_env_file=None, home=tmp_path / "empty-home")  # type: ignore[call-arg]
    expected = r"kafka cannot start, missing: the Kafka broker jars.*make setup"
    with pytest.raises(SetupMissingError, match=expected):
        LocalStack(bare).up(["kafka"])
    assert not (tmp_path / "empty-home" / "state" / "run").exists()


def test_kafka_properties_carry_the_configured_ports(settings: StackSettings, layout: Layout) -> None:
    properties = KafkaService(settings, layout).render_properties()
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:9093" in properties
    assert f"log.dirs={layout.state / 'kafka' / 'data'}" in properties
    assert "process.roles=broker,controller" in properties
    assert not [line for line in properties.splitlines() if "$" in line and not line.startswith("#")]


def test_kafka_loads_the_metrics_agent_before_the_main_class(settings: StackSettings, layout: Layout) -> None:
    command = KafkaService(settings, layout).command()
    agent = next(i for i, arg in enumerate(command) if arg.startswith("-javaagent:"))
    assert agent < command.index("kafka.Kafka")
    assert command[agent].split("=", 1)[1].startswith("127.0.0.1:9404:")
    assert "-Xmx512m" in command


def test_prometheus_gets_a_targets_file_for_every_job(settings: StackSettings, layout: Layout) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "docker" / "prometheus" / "prometheus.yml").read_text())
    jobs = {c["job_name"]: c["file_sd_configs"][0]["files"][0] for c in config["scrape_configs"]}
    assert set(jobs) == set(SCRAPE_JOBS)

    PrometheusService(settings, layout).prepare()
    folder = layout.state / "prometheus"
    targets = {job: json.loads((folder / path).read_text()) for job, path in jobs.items()}
    assert targets["kafka"][0]["targets"] == ["127.0.0.1:9404"]
    assert targets["flink"][0]["targets"] == ["127.0.0.1:9249", "127.0.0.1:9250"]
    assert targets["airflow"][0]["targets"] == ["127.0.0.1:9102"]
    assert targets["gateway"][0]["targets"] == ["127.0.0.1:8000"]
    assert (folder / "rules").resolve() == PROJECT_ROOT / "docker" / "prometheus" / "rules"


def test_airflow_environment(settings: StackSettings, layout: Layout) -> None:
    env = AirflowService(settings, layout).environment()
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(PROJECT_ROOT / "dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(PROJECT_ROOT / "plugins")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert (
        env["AIRFLOW__CORE__EXECUTOR"]
        == "closeloop_airflow.executors.preloading_local.PreloadingLocalExecutor"
    )
    assert float(env["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"]) > 5
    assert env["PATH"].startswith(str(layout.venv / "bin"))
    connection = json.loads(env["AIRFLOW_CONN_KAFKA_DEFAULT"])
    assert connection["extra"]["bootstrap.servers"] == "127.0.0.1:19092"


def test_flink_conf_keeps_distribution_defaults_under_ours(settings: StackSettings, layout: Layout) -> None:
    flink = FlinkService(settings, layout)
    if flink.missing():
        pytest.skip(f"needs `make setup`: {flink.missing()}")
    flink.prepare()
    conf = yaml.safe_load((flink.conf_dir / "config.yaml").read_text())
    assert conf["rest"]["port"] == 8081
    assert conf["taskmanager"]["memory"]["process"]["size"] == "6144m"
    assert conf["metrics"]["reporter"]["prom"]["port"] == "9249-9250"
    assert conf["python"]["executable"] == str(layout.flink_venv / "bin" / "python")
    # Working directories in the state folder, where `up` clears what a killed cluster left.
    assert conf["io"]["tmp"]["dirs"] == str(flink.tmp_dir)
    assert flink.tmp_dir.is_relative_to(layout.state)
    assert "--add-opens=java.base/java.util=ALL-UNNAMED" in conf["env"]["java"]["opts"]["all"]
    assert (flink.plugins_dir / "s3-fs-hadoop").is_dir()
    assert (flink.plugins_dir / "metrics-prometheus").is_dir()
    assert any(p.name.startswith("flink-sql-connector-kafka") for p in flink.lib_dir.iterdir())
    assert any(p.name.startswith("flink-dist") for p in flink.lib_dir.iterdir())


def test_starting_flink_clears_what_a_killed_cluster_left(
    settings: StackSettings, layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    flink = FlinkService(settings, layout)
    left = flink.tmp_dir / "tm_127.0.0.1:40000-abcdef" / "blobStorage"
    left.mkdir(parents=True)

    def run_once(command: list[str], *, what: str) -> str:
        raise StackError("stopped before start-cluster.sh")

    monkeypatch.setattr(flink, "run_once", run_once)
    with pytest.raises(StackError):
        flink.start()
    assert flink.tmp_dir.is_dir() and list(flink.tmp_dir.iterdir()) == []


def test_cluster_ids_look_like_kafkas() -> None:
    from closeloop.stack.services.kafka import new_cluster_id

    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert set(cluster_id) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_airflow_reaches_the_lake_through_a_connection(settings: StackSettings, layout: Layout) -> None:
    connection = json.loads(AirflowService(settings, layout).environment()["AIRFLOW_CONN_CLOSELOOP_LAKE"])
    assert connection["conn_type"] == "aws"
    assert (connection["login"], connection["password"]) == ("closeloop", "closeloop-dev-secret")
    assert connection["extra"] == {
        "endpoint_url": settings.s3_endpoint,
        "bucket": settings.lake_bucket,
        "prefix": settings.lake_prefix,
        "reports_bucket": settings.reports_bucket,
        "artifacts_bucket": settings.artifacts_bucket,
    }


def test_airflow_reaches_mlflow_through_a_connection(settings: StackSettings, layout: Layout) -> None:
    connection = json.loads(AirflowService(settings, layout).environment()["AIRFLOW_CONN_CLOSELOOP_MLFLOW"])
    assert connection == {"conn_type": "http", "host": settings.mlflow_tracking_uri}


def test_the_exporter_is_told_where_to_serve(settings: StackSettings, layout: Layout) -> None:
    env = MetricsExporterService(settings, layout).environment()
    assert (env["CLOSELOOP_HOST"], env["CLOSELOOP_METRICS_EXPORTER_PORT"]) == ("127.0.0.1", "9105")


def test_the_feedback_job_settings_are_the_stacks(
    settings: StackSettings, layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job's shared settings come from the stack's object, its own from CLOSELOOP_*."""
    monkeypatch.setenv("CLOSELOOP_KAFKA_BOOTSTRAP", "elsewhere:9092")
    monkeypatch.setenv("CLOSELOOP_JOB_NAME", "job-under-test")
    job = FeedbackJobService(settings, layout)
    assert job.job_settings.kafka_bootstrap == settings.kafka_bootstrap == "127.0.0.1:19092"
    assert job.job_settings.state == settings.state
    assert job.job_name == "job-under-test"
    env = job.environment()
    assert env["CLOSELOOP_JOB_NAME"] == "job-under-test"
    assert env["CLOSELOOP_KAFKA_BOOTSTRAP"] == "127.0.0.1:19092"
    assert env["CLOSELOOP_CHECKPOINTS_DIR"] == job.checkpoints_dir


RESTORE_FAILURE = """java.lang.RuntimeException: Error while getting state
\tat org.apache.flink.runtime.state.DefaultKeyedStateStore.getState(DefaultKeyedStateStore.java:91)
\tat org.apache.flink.streaming.runtime.tasks.StreamTask.restoreStateAndGates(StreamTask.java:876)
Caused by: java.lang.IllegalStateException: Incompatible key/value state types. Was [MAP], registered \
with [VALUE].
\tat org.apache.flink.util.Preconditions.checkState(Preconditions.java:193)"""


def _flink_answers(state: str, trace: str) -> dict[str, dict]:
    job = "ab" * 16
    return {
        "/jobs/overview": {"jobs": [{"jid": job, "name": "closeloop-feedback", "state": state}]},
        f"/jobs/{job}": {"state": state},
        f"/jobs/{job}/exceptions": {"root-exception": trace},
    }


@pytest.mark.parametrize(
    ("trace", "says_move"),
    [(RESTORE_FAILURE, True), ("org.apache.kafka.common.errors.TimeoutException: broker down", False)],
)
def test_a_restarting_job_says_why_and_a_state_misfit_what_to_do(
    settings: StackSettings, layout: Layout, monkeypatch: pytest.MonkeyPatch, trace: str, says_move: bool
) -> None:
    job = FeedbackJobService(settings, layout)
    checkpoint = Path(job.checkpoints_dir.removeprefix("file://")) / job.job_name / ("cd" * 16) / "chk-7"
    checkpoint.mkdir(parents=True)
    (checkpoint / "_metadata").write_bytes(b"")
    answers = _flink_answers("RESTARTING", trace)
    monkeypatch.setattr(FeedbackJobService, "_get", lambda self, path: answers[path])

    health = job.probe()
    assert not health.ok
    assert trace.splitlines()[0] in health.detail
    assert ("Incompatible key/value state types" in health.detail) is says_move
    assert (f"move {checkpoint.parent.parent} away" in health.detail) is says_move


def test_a_running_job_is_healthy(
    settings: StackSettings, layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = _flink_answers("RUNNING", "")
    monkeypatch.setattr(FeedbackJobService, "_get", lambda self, path: answers[path])
    health = FeedbackJobService(settings, layout).probe()
    assert health.ok and health.detail == "job abababab RUNNING"


def test_flink_run_gets_the_callers_jvm_args_and_the_class_archive_s(
    settings: StackSettings, layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The class archive's flags go after the JVM_ARGS of the caller's shell, not instead of them."""
    monkeypatch.setenv("JVM_ARGS", "-Duser.timezone=UTC -Xss2m")
    job = FeedbackJobService(settings, layout)
    runs: list[dict[str, str]] = []

    def run_once(command: list[str], *, what: str, timeout: float, env: dict[str, str]) -> str:
        runs.append(env)
        return "Job has been submitted with JobID " + "ab" * 16

    monkeypatch.setattr(FeedbackJobService, "_active_job", lambda self: None)
    monkeypatch.setattr(job, "run_once", run_once)
    assert job.start().job_id == "ab" * 16
    (args,) = [env["JVM_ARGS"] for env in runs]
    assert args.startswith("-Duser.timezone=UTC -Xss2m -XX:ArchiveClassesAtExit=")

    monkeypatch.delenv("JVM_ARGS")
    runs.clear()
    job.start()
    assert not runs[0]["JVM_ARGS"].startswith(" ")


def test_the_preprocess_job_starts_afresh_from_its_groups_offsets(
    settings: StackSettings, layout: Layout, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Stateless but for its offsets: never resumed from a checkpoint, even when one is there."""
    monkeypatch.setenv("CLOSELOOP_PREPROCESS_JOB_NAME", "pre-under-test")
    job = PreprocessJobService(settings, layout)
    checkpoint = Path(job.checkpoints_dir.removeprefix("file://")) / job.job_name / ("cd" * 16) / "chk-3"
    checkpoint.mkdir(parents=True)
    (checkpoint / "_metadata").write_bytes(b"")
    assert job.resume_from() is None
    assert "--fromSavepoint" not in job.flink.submit_command(job.job_file, detached=True)
    env = job.environment()
    assert env["CLOSELOOP_PREPROCESS_JOB_NAME"] == "pre-under-test"
    assert env["CLOSELOOP_KAFKA_BOOTSTRAP"] == settings.kafka_bootstrap
    monkeypatch.setenv("CLOSELOOP_RAW_INPUTS", str(tmp_path / "none.json"))
    assert any("raw-input specs" in m for m in PreprocessJobService(settings, layout).missing())
