"""A small client of Airflow 3's public REST API: trigger DAG runs, follow them, read what their tasks said.

For the demo, the benchmarks and the tests, which drive Airflow the way a
data engineer's script would. Token auth against the API server's /auth/token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from closeloop.errors import CloseloopError

__all__ = ["FINISHED", "MODELS_PAGE_ROUTE", "MODELS_VIEW_PREFIX", "AirflowApi", "AirflowApiError"]

#: DAG run states after which nothing more happens.
FINISHED = ("success", "failed")

#: Where the closeloop_models plugin mounts the Models view on the API server, and the UI's route
#: that shows it inside Airflow's navigation (/plugin/<route>).
MODELS_VIEW_PREFIX = "/closeloop"
MODELS_PAGE_ROUTE = "closeloop-models"


class AirflowApiError(CloseloopError):
    """Airflow's API refused a call or a run did not finish in time; names the DAG and run."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        #: The API's HTTP status, when it answered.
        self.status = status


class AirflowApi:
    def __init__(self, base_url: str, username: str, password: str, *, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        self._timeout_s = timeout_s
        self._client: httpx.Client | None = None

    @classmethod
    def as_user(cls, base_url: str, token: str, *, timeout_s: float = 30.0) -> AirflowApi:
        """A client acting with a logged-in user's own token: Airflow checks that user's permissions."""
        api = cls(base_url, "", "", timeout_s=timeout_s)
        api._client = httpx.Client(
            base_url=f"{api.base_url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )
        return api

    def _http(self) -> httpx.Client:
        # Lazily: the token is asked for on first use, when Airflow is up.
        if self._client is None:
            response = httpx.post(
                f"{self.base_url}/auth/token", json=self._credentials, timeout=self._timeout_s
            )
            if response.status_code >= 400:
                raise AirflowApiError(f"cannot log in to Airflow at {self.base_url}: {response.text[:200]}")
            headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
            self._client = httpx.Client(
                base_url=f"{self.base_url}/api/v2", headers=headers, timeout=self._timeout_s
            )
        return self._client

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http().request(method, path, **kwargs)
        if response.status_code >= 400:
            raise AirflowApiError(
                f"{method} {path}: {response.status_code} {response.text[:300]}", status=response.status_code
            )
        return response.json()

    def ui_url(self, dag_id: str, run_id: str | None = None) -> str:
        return f"{self.base_url}/dags/{dag_id}" + (f"/runs/{run_id}" if run_id else "")

    def dags(self) -> dict[str, dict[str, Any]]:
        return {d["dag_id"]: d for d in self._call("GET", "/dags", params={"limit": 1000})["dags"]}

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, note: str | None = None) -> str:
        """Start a manual run with ``conf`` as its params; returns the run id."""
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if note:
            body["note"] = note
        return self._call("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def set_note(self, dag_id: str, run_id: str, note: str) -> None:
        """The run's note, shown beside it in the UI's grid and runs list."""
        self._call(
            "PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", params={"update_mask": ["note"]}, json={"note": note}
        )

    def fail_run(self, dag_id: str, run_id: str, note: str) -> None:
        """Mark an unfinished run failed (its unfinished tasks with it), saying why in its note."""
        self._call("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", json={"state": "failed"})
        self.set_note(dag_id, run_id, note)

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str, *, run_type: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest runs first."""
        params: dict[str, Any] = {"limit": limit, "order_by": "-run_after"}
        if run_type:
            params["run_type"] = [run_type]
        return self._call("GET", f"/dags/{dag_id}/dagRuns", params=params)["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        data = self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return {t["task_id"]: t for t in data["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self._call("GET", path, params={"deserialize": True, "stringify": False})["value"]

    def wait(
        self,
        dag_id: str,
        run_id: str,
        *,
        timeout_s: float = 600.0,
        interval_s: float = 2.0,
        on_change: Callable[[dict[str, dict[str, Any]]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the run finishes; ``on_change`` sees the task instances whenever a state changes."""
        deadline = time.monotonic() + timeout_s
        seen: dict[str, str | None] = {}
        while True:
            try:
                run = self.run(dag_id, run_id)
            except httpx.TimeoutException:  # a busy API server is not a failed run
                if time.monotonic() > deadline:
                    raise
                continue
            if on_change is not None:
                tasks = self.task_instances(dag_id, run_id)
                states = {task_id: t["state"] for task_id, t in tasks.items()}
                if states != seen:
                    seen = states
                    on_change(tasks)
            if run["state"] in FINISHED:
                return run
            if time.monotonic() > deadline:
                raise AirflowApiError(f"{dag_id} run {run_id} still {run['state']} after {timeout_s:.0f} s")
            time.sleep(interval_s)
