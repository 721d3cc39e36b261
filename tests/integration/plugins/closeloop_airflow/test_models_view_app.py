"""The Models view on the running Airflow API server: behind Airflow's login, its actions behind its
permissions, and a rollback from it recorded with who did it."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.events import ModelUpdateEvent
from closeloop.events.types import utc_now
from closeloop.kafka.consume import read_since
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from tests.integration.training.conftest import register_clean_champion
from training.promotion import CANARY, CHAMPION, PREVIOUS, ROLLBACK_TAG, alias_version
from training.usecases import get_use_case

DIGITS = get_use_case("digits")


def _airflow(stack: LocalStack) -> AirflowService:
    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    return airflow


def _logged_in(stack: LocalStack, user: str) -> httpx.Client:
    """A client with ``user``'s token from Airflow's /auth/token, as a script would log in."""
    airflow = _airflow(stack)
    password = airflow.password(user)
    assert password, f"no {user} in {airflow.password_file}"
    token = httpx.post(f"{airflow.url}/auth/token", json={"username": user, "password": password}, timeout=60)
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return httpx.Client(base_url=f"{airflow.url}/closeloop", headers=headers, timeout=120)


@pytest.fixture
def two_champions(settings: Settings) -> tuple[str, str]:
    """Digits with a champion and a previous champion: (previous, champion)."""
    first = register_clean_champion(settings, "digits")
    second = register_clean_champion(settings, "digits")
    MlflowClient(settings.mlflow_tracking_uri).set_registered_model_alias(DIGITS.model_name, PREVIOUS, first)
    return first, second


def test_without_a_login_nothing_is_shown_or_done(stack: LocalStack, two_champions: tuple[str, str]) -> None:
    anonymous = httpx.Client(base_url=f"{_airflow(stack).url}/closeloop", timeout=60)
    assert anonymous.get("/api/overview").status_code == 401
    assert anonymous.post(f"/api/models/{DIGITS.model_name}/rollback").status_code == 401
    page = anonymous.get("/models", headers={"Accept": "text/html"})
    assert page.status_code == 303 and "/auth/login" in page.headers["location"]
    # A forged token is refused too.
    forged = anonymous.get("/api/overview", headers={"Authorization": "Bearer not-a-jwt"})
    assert forged.status_code in (401, 403)


def test_a_viewer_sees_the_models_but_may_not_retrain_or_roll_back(
    settings: Settings, stack: LocalStack, two_champions: tuple[str, str]
) -> None:
    previous, champion = two_champions
    viewer = _logged_in(stack, "viewer")
    client = MlflowClient(settings.mlflow_tracking_uri)
    # A canary for the length of one read (a gateway that polled now would serve it until the next poll).
    client.set_registered_model_alias(DIGITS.model_name, CANARY, previous)
    try:
        overview = viewer.get("/api/overview").json()
    finally:
        client.delete_registered_model_alias(DIGITS.model_name, CANARY)
    [row] = [r for r in overview["rows"] if r["model_name"] == DIGITS.model_name]
    assert (row["champion"], row["previous"], row["dag_id"]) == (champion, previous, "retrain_digits")
    assert row["canary"] == previous
    assert overview["user"] == "viewer"

    refused = viewer.post(f"/api/models/{DIGITS.model_name}/rollback")
    assert refused.status_code == 403, refused.text
    assert "viewer may not edit retrain_digits" in refused.json()["detail"]
    refused = viewer.post(f"/api/models/{DIGITS.model_name}/retrain", json={"conf": {}})
    assert refused.status_code == 403
    assert "viewer may not trigger runs of retrain_digits" in refused.json()["detail"]
    assert alias_version(client, DIGITS.model_name, CHAMPION) == champion


def test_an_admins_rollback_moves_the_aliases_tells_the_gateway_and_records_who(
    settings: Settings, stack: LocalStack, two_champions: tuple[str, str]
) -> None:
    previous, champion = two_champions
    admin = _logged_in(stack, "admin")
    since = utc_now() - timedelta(seconds=5)
    moved = admin.post(f"/api/models/{DIGITS.model_name}/rollback")
    assert moved.status_code == 200, moved.text
    assert moved.json() == {
        "model": DIGITS.model_name,
        "champion": previous,
        "previous": champion,
        "reason": "rollback by admin",
    }
    client = MlflowClient(settings.mlflow_tracking_uri)
    assert alias_version(client, DIGITS.model_name, CHAMPION) == previous
    assert alias_version(client, DIGITS.model_name, PREVIOUS) == champion
    tag = client.get_model_version(DIGITS.model_name, previous).tags[ROLLBACK_TAG]
    assert tag.startswith("rollback by admin at ") and tag.endswith(f"from {champion}")
    updates = [
        e
        for e in read_since(
            settings.kafka_bootstrap, settings.topics.model_updates, since, expected=ModelUpdateEvent
        )
        if isinstance(e, ModelUpdateEvent) and e.model_name == DIGITS.model_name
    ]
    assert [(u.version, u.previous_version, u.reason) for u in updates] == [
        (previous, champion, "rollback by admin")
    ]
    # The page's data follows the registry.
    [row] = [r for r in admin.get("/api/overview").json()["rows"] if r["model_name"] == DIGITS.model_name]
    assert (row["champion"], row["previous"]) == (previous, champion)


def test_an_admins_retrain_is_airflows_run_started_by_that_admin_and_a_bad_param_says_which(
    stack: LocalStack, two_champions: tuple[str, str]
) -> None:
    admin = _logged_in(stack, "admin")
    form = admin.get(f"/api/models/{DIGITS.model_name}/retrain").json()
    assert form["dag_id"] == "retrain_digits"
    assert form["params"]["force"]["type"] == "boolean" and form["params"]["min_new_labels"]["default"] == 0

    bad = admin.post(f"/api/models/{DIGITS.model_name}/retrain", json={"conf": {"holdout_fraction": 2}})
    assert bad.status_code == 400, bad.text
    assert "holdout_fraction" in bad.json()["detail"]

    started = admin.post(f"/api/models/{DIGITS.model_name}/retrain", json={"conf": {"margin": 0.5}})
    assert started.status_code == 201, started.text
    run_id = started.json()["run_id"]
    api = _airflow(stack).api()
    try:
        run = api.run("retrain_digits", run_id)
        assert run["triggering_user_name"] == "admin"
        assert run["conf"]["margin"] == 0.5
    finally:
        # Not this test's business to train: the browser test does a whole retrain.
        api.fail_run("retrain_digits", run_id, "stopped by test_models_view_app")
