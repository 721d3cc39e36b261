"""The Models view's app without services: who it lets in, and what its page shows of an overview."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from closeloop_airflow.models_view import app as models_app
from closeloop_airflow.models_view.overview import (
    Alert,
    Champion,
    Read,
    RetrainRun,
    build_overview,
)
from fastapi.testclient import TestClient

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


class _User:
    def get_name(self) -> str:
        return "ada"


@pytest.fixture
def client() -> TestClient:
    return TestClient(models_app.create_app(models_app.ModelsViewSettings()), follow_redirects=False)


def test_without_a_login_the_api_says_401_and_the_page_sends_to_the_login(client: TestClient) -> None:
    assert client.get("/api/overview").status_code == 401
    assert client.post("/api/models/closeloop-digits/rollback").status_code == 401
    assert client.post("/api/models/closeloop-digits/retrain", json={"conf": {}}).status_code == 401
    page = client.get("/models", headers={"Accept": "text/html"})
    assert page.status_code == 303
    assert "/auth/login?next=" in page.headers["location"]
    assert page.headers["location"].endswith("%2Fmodels")


def test_the_page_shows_each_models_champion_alerts_runs_and_what_was_unreachable(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    champion = Champion(
        model_name="closeloop-digits",
        version="7",
        task="classification",
        registered=T0,
        previous="6",
        canary="8",
        gate={"metric": "accuracy", "passed": "true"},
    )
    alert = Alert("al-1", "closeloop-digits", "6", "quality", "quality.accuracy", 0.41, 0.85, T0, "flink")
    run = RetrainRun(
        dag_id="retrain_digits",
        run_id="manual__1",
        state="success",
        run_type="manual",
        start=T0,
        end=T0,
        reason="why: alert al-1",
        triggered_by="ada",
        version="7",
        gate={"passed": "true", "metric": "accuracy", "challenger_holdout": "0.93"},
    )
    overview = build_overview(
        Read("mlflow", value=[champion]),
        Read("prometheus", error="ConnectError: refused"),
        Read("prometheus", value={}),
        Read("kafka", value=[alert]),
        Read("airflow", value=[run]),
        dag_ids={"closeloop-digits": "retrain_digits"},
    )
    monkeypatch.setattr(models_app, "read_overview", lambda settings, token: overview)
    client.app.dependency_overrides[models_app._user] = _User  # type: ignore[attr-defined]
    page = client.get("/models").text
    assert 'data-model="closeloop-digits" data-champion="7"' in page
    assert "unreachable: prometheus: ConnectError: refused" in page
    assert 'data-alert-id="al-1"' in page and "0.41" in page
    assert 'data-run-id="manual__1"' in page and "why: alert al-1" in page
    assert "Roll back to v6" in page and 'signed in as <span id="user">ada</span>' in page
    assert "canary v8, judged live" in page
    # The DAG tab shows its use case's model only.
    assert "closeloop-digits" in client.get("/models", params={"dag_id": "drift_report_digits"}).text
    assert 'data-champion="7"' not in client.get("/models", params={"dag_id": "retrain_ocr"}).text


def test_an_action_on_a_model_no_use_case_registers_is_404(client: TestClient) -> None:
    client.app.dependency_overrides[models_app._user] = _User  # type: ignore[attr-defined]
    answer = client.post("/api/models/nobody/rollback")
    assert answer.status_code == 404
    assert "no use case registers a model named 'nobody'" in answer.json()["detail"]
