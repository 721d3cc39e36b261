"""closeloop's Airflow plugin: the "Models" page in the UI's navigation, and a tab on each DAG.

Both embed the Models view (closeloop_airflow.models_view.app), which the
API server mounts at /closeloop: each model's champion, live health, alerts
and retrains, with "retrain now" and "roll back" for users allowed to.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin
from closeloop_airflow.models_view.app import create_app

from closeloop.airflow_api import MODELS_PAGE_ROUTE, MODELS_VIEW_PREFIX

_HREF = MODELS_VIEW_PREFIX.strip("/") + "/models"


class CloseloopModelsPlugin(AirflowPlugin):
    name = "closeloop_models"
    fastapi_apps: ClassVar[list[Any]] = [
        {"app": create_app(), "url_prefix": MODELS_VIEW_PREFIX, "name": "closeloop models"}
    ]
    # Relative hrefs: the UI resolves them against its base URL, so the page is same-origin and
    # the browser sends Airflow's session cookie with it.
    external_views: ClassVar[list[Any]] = [
        {
            "name": "Models",
            "href": _HREF,
            "url_route": MODELS_PAGE_ROUTE,
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "Model health",
            "href": _HREF + "?dag_id={DAG_ID}",
            "url_route": "closeloop-model-health",
            "destination": "dag",
        },
    ]
