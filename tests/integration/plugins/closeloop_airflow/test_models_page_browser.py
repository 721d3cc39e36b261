"""The Models view in a real browser: Debian's Chromium, driven by Playwright, logs into the running
Airflow, finds the page in its navigation, retrains from it, and checks what both pages show against
MLflow, Kafka and Airflow. Each page's screenshot is saved under the state directory (and, with
CLOSELOOP_SCREENSHOT_DIR set, there too: `make screenshots` refreshes the README's)."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from mlflow import MlflowClient
from playwright.sync_api import Browser, FrameLocator, Page, expect, sync_playwright

from closeloop.events import AlertEvent, Window
from closeloop.events.types import utc_now
from closeloop.kafka.publish import publish_events
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from closeloop.stack.settings import StackSettings
from tests.waiting import NotYet, eventually
from training.promotion import CHAMPION, alias_version
from training.usecases import get_use_case

DIGITS = get_use_case("digits")
#: Generous: the API server answers slowly while a retrain trains beside it on 2 cores.
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # expect() waits 5 s by default: on a loaded machine the page's reads of four services take longer.
    expect.set_options(timeout=TIMEOUT_MS)
    executable = shutil.which("chromium")
    assert executable, "Chromium is missing: `make setup` installs Debian's chromium package"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


def _screenshot(page: Page, settings: StackSettings, name: str) -> Path:
    folder = settings.state / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    if target := os.environ.get("CLOSELOOP_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
    return path


def _log_in(page: Page, airflow: AirflowService, user: str) -> None:
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(airflow.password(user) or "")
    page.get_by_role("button", name="Sign in").click()


def test_the_models_pages_show_what_mlflow_kafka_and_airflow_hold(
    settings: StackSettings, stack: LocalStack, browser: Browser, clean_champion: str
) -> None:
    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    api = airflow.api()
    client = MlflowClient(settings.mlflow_tracking_uri)

    # An alert about a version that is not the champion: its retrain run starts, and skips.
    now = utc_now()
    alert = AlertEvent(
        alert_id=f"browser-{uuid.uuid4().hex[:8]}",
        model_name=DIGITS.model_name,
        model_version="0",
        kind="quality",
        rule="accuracy-drop",
        metric="quality.accuracy",
        value=0.42,
        threshold=0.85,
        window=Window(start=now - timedelta(minutes=1), end=now),
    )
    publish_events(settings.kafka_bootstrap, settings.topics.alerts, [alert])

    @eventually(timeout=180, interval=3)
    def alert_run() -> str:
        for run in api.runs("retrain_digits", run_type="asset_triggered", limit=10):
            if alert.alert_id in (run.get("note") or ""):
                return run["dag_run_id"]
        raise NotYet("no retrain_digits run names the alert yet")

    skipped = api.wait("retrain_digits", alert_run(), timeout_s=300)

    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    # Airflow's UI sends a visitor to its login, then back to the Models page in its navigation.
    page.goto(airflow.models_page_url)
    _log_in(page, airflow, "admin")
    page.wait_for_url(re.compile(r".*/plugin/closeloop-models$"))
    view: FrameLocator = page.frame_locator("iframe")
    row = view.locator(f'tr[data-model="{DIGITS.model_name}"]')
    expect(row).to_have_attribute("data-champion", clean_champion)
    section = view.locator(f'section[data-model="{DIGITS.model_name}"]')
    expect(section.locator("table.alerts tbody tr").first).to_have_attribute("data-alert-id", alert.alert_id)
    expect(section.locator("table.alerts tbody tr").first).to_contain_text("0.42")
    expect(section.locator(f'tr[data-run-id="{skipped["dag_run_id"]}"] td.reason')).to_have_text(
        skipped["note"]
    )
    _screenshot(page, settings, "models")

    # Retrain now, from the page: the DAG's params form, forced so that the new version is champion.
    row.locator("button[data-action=retrain]").click()
    dialog = view.locator("dialog#retrain")
    expect(dialog.locator('input[name="force"]')).to_have_value("false")
    dialog.locator('input[name="force"]').fill("true")
    dialog.locator("#retrain-go").click()
    result = view.locator("#result")
    expect(result).to_contain_text("triggered retrain_digits: ")
    run_id = result.inner_text().split("triggered retrain_digits: ", 1)[1].strip()
    retrained = api.wait("retrain_digits", run_id, timeout_s=900)
    assert retrained["state"] == "success", retrained
    assert retrained["triggering_user_name"] == "admin"
    champion = alias_version(client, DIGITS.model_name, CHAMPION)
    assert champion is not None and champion != clean_champion

    # The model's page: the new champion, the run that made it with its reason and gate, and the
    # promotion marked on the timeline the browser drew.
    page.goto(f"{airflow.url}/closeloop/models/{DIGITS.model_name}")
    expect(page.locator("#champion")).to_have_text(f"v{champion}")
    run_row = page.locator(f'tr[data-run-id="{run_id}"]')
    expect(run_row.locator("td.reason")).to_have_text(api.run("retrain_digits", run_id)["note"])
    expect(run_row).to_contain_text(f"v{champion}")
    expect(run_row).to_contain_text("passed")
    expect(page.locator('#timeline line[data-kind="promotion"]').first).to_be_attached()
    expect(page.locator(f'tr[data-alert-id="{alert.alert_id}"]')).to_be_visible()
    _screenshot(page, settings, "model")
    page.close()


def test_a_viewer_in_the_browser_is_refused_a_retrain(
    stack: LocalStack, browser: Browser, clean_champion: str
) -> None:
    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{airflow.url}/closeloop/models")
    _log_in(page, airflow, "viewer")
    page.wait_for_url(re.compile(r".*/closeloop/models$"))
    expect(page.locator("#user")).to_have_text("viewer")
    row = page.locator(f'tr[data-model="{DIGITS.model_name}"]')
    row.locator("button[data-action=retrain]").click()
    page.locator("#retrain-go").click()
    expect(page.locator("#result")).to_contain_text("viewer may not trigger runs of retrain_digits")
    page.close()


def test_a_dags_model_health_tab_shows_its_use_cases_model_and_the_nav_leads_to_all(
    stack: LocalStack, browser: Browser, clean_champion: str
) -> None:
    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{airflow.url}/dags/drift_report_digits/plugin/closeloop-model-health")
    _log_in(page, airflow, "admin")
    page.wait_for_url(re.compile(r".*/dags/drift_report_digits/plugin/closeloop-model-health$"))
    tab = page.frame_locator("iframe")
    expect(tab.locator("#models tbody tr")).to_have_count(1)
    expect(tab.locator(f'tr[data-model="{DIGITS.model_name}"]')).to_have_attribute(
        "data-champion", clean_champion
    )
    # Browse ▸ Models, in Airflow's own navigation.
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="Models").click()
    page.wait_for_url(re.compile(r".*/plugin/closeloop-models$"))
    expect(page.frame_locator("iframe").locator(f'tr[data-model="{DIGITS.model_name}"]')).to_be_visible()
    page.close()
