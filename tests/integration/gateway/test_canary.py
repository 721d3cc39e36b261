"""A canary version on the real registry: its share of the traffic, sticky per client, logged as
itself, and gone from serving once its alias is."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.events import PredictionEvent
from closeloop.events.types import utc_now
from closeloop.gateway.canary import CANARY_ALIAS, SHARE_TAG
from closeloop.kafka.consume import read_since
from closeloop.stack.manager import LocalStack
from tests.integration.gateway.conftest import ROWS, gateway_app, gateway_settings, serve, wait_for_model
from tests.integration.registry_models import register_digits
from tests.waiting import NotYet, eventually

#: Per model, how each version said it answered ("champion" or "canary"), as last seen.
served_as: dict[str, dict[str, str]] = {}


def _answers(url: str, name: str, clients: list[str]) -> dict[str, tuple[str, str]]:
    """(version, prediction id) of each client's one request; it says whether the canary answered."""
    with httpx.Client(base_url=url, timeout=30) as http:
        answered = {}
        for i, client in enumerate(clients):
            response = http.post(
                f"/v1/models/{name}/predict",
                json={"inputs": ROWS[i % len(ROWS)]},
                headers={"X-Client-Id": client},
            )
            response.raise_for_status()
            body = response.json()
            answered[client] = (body["model_version"], body["prediction_id"])
            served_as.setdefault(name, {})[body["model_version"]] = body["served_as"]
        return answered


def _versions(url: str, name: str, clients: list[str]) -> dict[str, str]:
    """The version that answered each client's one request."""
    return {client: version for client, (version, _) in _answers(url, name, clients).items()}


def test_a_canary_answers_its_share_of_clients_each_always_and_stops_with_its_alias(
    settings: Settings, stack: LocalStack, tmp_path: Path, unique_name: str
) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri)
    champion = register_digits(settings.mlflow_tracking_uri, unique_name, rows=600)
    canary = register_digits(settings.mlflow_tracking_uri, unique_name, rows=1200, alias=CANARY_ALIAS)
    config = gateway_settings(settings, tmp_path, models=[unique_name], reload_poll_s=1, canary_share=0.1)
    try:
        with serve(gateway_app(config)) as url:
            wait_for_model(lambda path: httpx.get(url + path), unique_name, champion)

            @eventually(timeout=60, interval=1)
            def canary_serving() -> None:
                if canary not in _versions(url, unique_name, [f"probe-{i}" for i in range(60)]).values():
                    raise NotYet("no request answered by the canary yet")

            canary_serving()
            clients = [f"client-{i}" for i in range(2000)]
            first = _versions(url, unique_name, clients)
            share = Counter(first.values())[canary] / len(clients)
            assert set(first.values()) == {champion, canary}
            assert served_as[unique_name] == {champion: "champion", canary: "canary"}
            assert abs(share - 0.1) < 0.03, share  # 2000 draws: 4.5 standard deviations
            # Sticky: the same clients again get the same versions.
            again = _versions(url, unique_name, clients[:300])
            assert again == {c: first[c] for c in clients[:300]}

            # Each prediction event names the version that answered it.
            since = utc_now() - timedelta(seconds=5)
            answers = _answers(url, unique_name, clients[:200])
            wanted = {pid: version for version, pid in answers.values()}

            @eventually(timeout=60, interval=1)
            def logged() -> dict[str, str]:
                events = read_since(settings.kafka_bootstrap, settings.topics.predictions, since)
                found = {e.prediction_id: e.model_version for e in events if isinstance(e, PredictionEvent)}
                if not wanted.keys() <= found.keys():
                    raise NotYet(f"{len(wanted.keys() - found.keys())} prediction events not on Kafka yet")
                return {pid: found[pid] for pid in wanted}

            assert logged() == wanted and canary in wanted.values()

            # A share set on the version wins over the setting, at the canary's next load.
            client.set_model_version_tag(unique_name, canary, SHARE_TAG, "0.5")
            client.delete_registered_model_alias(unique_name, CANARY_ALIAS)

            @eventually(timeout=60, interval=1)
            def canary_gone() -> None:
                if canary in _versions(url, unique_name, [f"probe-{i}" for i in range(60)]).values():
                    raise NotYet("the canary still answers")

            canary_gone()
            client.set_registered_model_alias(unique_name, CANARY_ALIAS, canary)

            @eventually(timeout=60, interval=1)
            def half() -> None:
                answered = _versions(url, unique_name, clients[:400])
                share = Counter(answered.values())[canary] / 400
                if abs(share - 0.5) > 0.1:
                    raise NotYet(f"canary share {share}")

            half()
    finally:
        client.delete_registered_model(unique_name)
