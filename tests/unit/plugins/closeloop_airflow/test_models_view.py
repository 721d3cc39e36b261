"""The models page's data: rows from the registry and the live metrics, and a source that is away said."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from closeloop_airflow.models_view.overview import (
    Alert,
    Champion,
    LiveWindow,
    Read,
    RetrainRun,
    build_overview,
    read_all,
    read_from,
)
from closeloop_airflow.models_view.render import number, sparklines
from closeloop_airflow.models_view.sources import Prometheus

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def _champion(name: str, version: str, **extra: object) -> Champion:
    return Champion(model_name=name, version=version, task="classification", registered=T0, **extra)  # type: ignore[arg-type]


def _window(name: str, version: str, accuracy: float) -> LiveWindow:
    return LiveWindow(
        model_name=name,
        model_version=version,
        end=T0,
        quality={"accuracy": accuracy, "macro_f1": accuracy - 0.1},
        label_coverage=0.5,
        error_rate=0.0,
        p99_ms=3.0,
    )


def test_a_row_per_champion_with_its_own_versions_live_window_and_history() -> None:
    champions = [
        _champion(
            "digits",
            "4",
            previous="3",
            canary="5",
            reason="alert",
            gate={"passed": "true", "metric": "accuracy"},
        ),
        _champion("ocr", "1", gate={"metric": "cer"}),
    ]
    live = [_window("digits", "3", 0.5), _window("digits", "4", 0.9)]
    history = {
        ("digits", "4"): [(T0, 0.9)],
        ("digits", "3"): [(T0.replace(hour=9), 0.95), (T0, 0.5)],
        ("ocr", "1"): [],
    }
    overview = build_overview(
        Read("mlflow", value=champions), Read("prometheus", value=live), Read("prometheus", value=history)
    )
    assert overview.unreachable == []
    digits, ocr = overview.rows
    assert (digits.champion, digits.previous, digits.canary, digits.reason) == ("4", "3", "5", "alert")
    assert ocr.canary is None
    assert digits.live is not None and digits.live.model_version == "4"
    assert digits.quality == 0.9 and digits.gate_passed is True
    # The versions' sparklines, oldest first; a version with no points has none.
    assert list(digits.history) == ["3", "4"]
    assert (ocr.live, ocr.quality, ocr.gate_passed, dict(ocr.history)) == (None, None, None, {})


def test_a_source_that_is_away_is_named_and_the_rest_still_shown() -> None:
    def away() -> list[LiveWindow]:
        raise httpx.ConnectError("connection refused")

    live = read_from("prometheus", away)
    champions = Read("mlflow", value=[_champion("digits", "2")])
    overview = build_overview(champions, live, Read("prometheus", value={}))
    assert overview.unreachable == ["prometheus: ConnectError: connection refused"]
    [row] = overview.rows
    assert (row.champion, row.live, row.quality) == ("2", None, None)


def _answer(result: list[dict[str, object]]) -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()


def _sample(value: float, **labels: str) -> dict[str, object]:
    base = {"model_name": "digits", "model_version": "4", "task": "classification", "window": "tumbling"}
    return {"metric": {**base, **labels}, "value": [1_765_000_000, str(value)]}


ANSWERS = {
    "closeloop_model_window_end_timestamp_seconds": [_sample(T0.timestamp())],
    "closeloop_model_quality": [_sample(0.91, metric="accuracy"), _sample(0.88, metric="macro_f1")],
    "closeloop_model_label_coverage": [_sample(0.4)],
    "closeloop_model_error_rate": [_sample(0.01)],
    "closeloop_model_latency_ms": [_sample(7.5, quantile="0.99")],
    "closeloop_model_drift_psi": [_sample(0.05, feature="pixel_1"), _sample(0.7, feature="pixel_9")],
    "closeloop_model_window_seconds": [_sample(60.0)],
}


def _prometheus(request: httpx.Request) -> httpx.Response:
    assert request.url.path == "/api/v1/query"
    name = request.url.params["query"].split("{")[0]
    return httpx.Response(200, content=_answer(ANSWERS[name]))


def test_the_newest_windows_are_read_from_the_exporters_gauges() -> None:
    [window] = Prometheus("http://prometheus:9090", transport=httpx.MockTransport(_prometheus)).live()
    assert (window.model_name, window.model_version, window.end) == ("digits", "4", T0)
    assert window.quality == {"accuracy": 0.91, "macro_f1": 0.88}
    assert (window.label_coverage, window.error_rate, window.p99_ms) == (0.4, 0.01, 7.5)
    assert (window.max_drift, window.max_drift_feature) == (0.7, "pixel_9")
    assert (window.drift, window.seconds) == ({"pixel_1": 0.05, "pixel_9": 0.7}, 60.0)


def test_a_prometheus_error_is_raised_with_its_message() -> None:
    def refuses(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "error", "error": "parse error at char 3"})

    with pytest.raises(RuntimeError, match="parse error"):
        Prometheus("http://p:9090", transport=httpx.MockTransport(refuses)).live()


def _alert(name: str, minute: int, alert_id: str) -> Alert:
    return Alert(
        alert_id=alert_id,
        model_name=name,
        model_version="4",
        kind="quality",
        metric="quality.accuracy",
        value=0.5,
        threshold=0.85,
        time=T0.replace(minute=minute),
        source="flink",
    )


def _run(dag_id: str, minute: int, run_id: str, **extra: object) -> RetrainRun:
    start = T0.replace(minute=minute)
    return RetrainRun(
        dag_id=dag_id,
        run_id=run_id,
        state="success",
        run_type="manual",
        start=start,
        end=start,
        reason=f"why: {run_id}",
        triggered_by="admin",
        **extra,  # type: ignore[arg-type]
    )


def test_alerts_and_retrain_runs_go_to_their_models_row_newest_first() -> None:
    champions = [_champion("digits", "4", gate={"metric": "accuracy"}), _champion("ocr", "1")]
    alerts = [_alert("digits", m, f"a{m}") for m in (1, 3, 2)] + [_alert("speech", 5, "s5")]
    runs = [
        _run("retrain_digits", 1, "r1", version="3", gate={"passed": "false"}),
        _run("retrain_digits", 9, "r9", version="4", gate={"passed": "true", "metric": "accuracy"}),
        _run("retrain_ocr", 2, "o2"),
    ]
    overview = build_overview(
        Read("mlflow", value=champions),
        Read("prometheus", value=[]),
        Read("prometheus", value={}),
        Read("kafka", value=alerts),
        Read("airflow", value=runs),
        dag_ids={"digits": "retrain_digits", "ocr": "retrain_ocr"},
        metrics={"ocr": "cer"},
        per_model=2,
    )
    digits, ocr = overview.rows
    assert [a.alert_id for a in digits.alerts] == ["a3", "a2"]
    assert [r.run_id for r in digits.runs] == ["r9", "r1"]
    assert [r.gate_passed for r in digits.runs] == [True, False]
    assert (ocr.alerts, [r.run_id for r in ocr.runs], ocr.dag_id) == ([], ["o2"], "retrain_ocr")
    # The gate's metric where the champion has one, else the use case's primary metric.
    assert (digits.metric, ocr.metric) == ("accuracy", "cer")


def test_an_unreachable_kafka_or_airflow_is_named_too() -> None:
    overview = build_overview(
        Read("mlflow", value=[_champion("digits", "4")]),
        Read("prometheus", value=[]),
        Read("prometheus", value={}),
        Read("kafka", error="KafkaException: broker down"),
        Read("airflow", error="AirflowApiError: 503"),
    )
    assert overview.unreachable == ["kafka: KafkaException: broker down", "airflow: AirflowApiError: 503"]
    assert (overview.rows[0].alerts, overview.rows[0].runs) == ([], [])


def test_the_window_before_the_newest_comes_from_the_history() -> None:
    window = _window("digits", "4", 0.7)  # ends at T0
    history = {("digits", "4"): [(T0.replace(hour=9), 0.95), (T0.replace(hour=9, minute=30), 0.9), (T0, 0.7)]}
    overview = build_overview(
        Read("mlflow", value=[_champion("digits", "4", gate={"metric": "accuracy"})]),
        Read("prometheus", value=[window]),
        Read("prometheus", value=history),
    )
    [row] = overview.rows
    assert (row.quality, row.quality_before) == (0.7, 0.9)


def test_sparklines_share_one_box_with_the_best_value_on_top() -> None:
    history = {
        "3": [(T0.replace(hour=8), 0.9), (T0.replace(hour=9), 0.5)],
        "4": [(T0.replace(hour=10), 0.7)],
        "5": [],
    }
    old, new = sparklines(history, width=100, height=22)
    assert (old.version, new.version) == ("3", "4")
    assert old.points == "0.0,1.0 50.0,21.0"  # first point: earliest and best; second: halfway, worst
    assert new.points == "100.0,11.0 102.0,11.0"  # one point is drawn as a short dash
    assert (old.last, new.last) == (0.5, 0.7)
    assert sparklines({"1": []}) == []
    [flat] = sparklines({"1": [(T0, 0.8), (T0.replace(hour=11), 0.8)]}, width=10, height=20)
    assert flat.points == "0.0,10.0 10.0,10.0"


def test_sparklines_start_at_the_second_newest_versions_first_point() -> None:
    history = {
        "1": [(T0.replace(hour=1), 0.1), (T0.replace(hour=8, minute=30), 0.2)],
        "2": [(T0.replace(hour=8), 0.9), (T0.replace(hour=9), 0.5)],
        "3": [(T0.replace(hour=10), 0.7)],
    }
    lines = {line.version: line for line in sparklines(history, width=100, height=22)}
    # Version 1's hours before 8:00 are cut, its point at 8:30 stays, on the same axes.
    assert lines["1"].points == "25.0,21.0 27.0,21.0"
    assert lines["2"].points.startswith("0.0,1.0 ")


def test_numbers_are_short_and_a_missing_one_is_a_dash() -> None:
    assert (number(0.912345), number(None), number(12.5, 2)) == ("0.912", "-", "12")


def test_sources_are_read_at_once_and_each_failure_stays_its_own() -> None:
    import threading

    both = threading.Barrier(2, timeout=10)  # passes only if the two reads run at the same time

    def slow() -> str:
        both.wait()
        return "mlflow's"

    def failing() -> str:
        both.wait()
        raise TimeoutError("no answer")

    mlflow, kafka = read_all(("mlflow", slow), ("kafka", failing))
    assert (mlflow.value, mlflow.error) == ("mlflow's", None)
    assert (kafka.value, kafka.error) == (None, "TimeoutError: no answer")
