"""The models page's data: rows from the registry and the live metrics, and a source that is away said."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from closeloop_airflow.models_view.overview import Champion, LiveWindow, Read, build_overview, read_from
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
        _champion("digits", "4", previous="3", reason="alert", gate={"passed": "true", "metric": "accuracy"}),
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
    assert (digits.champion, digits.previous, digits.reason) == ("4", "3", "alert")
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


def test_a_prometheus_error_is_raised_with_its_message() -> None:
    def refuses(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "error", "error": "parse error at char 3"})

    with pytest.raises(RuntimeError, match="parse error"):
        Prometheus("http://p:9090", transport=httpx.MockTransport(refuses)).live()
