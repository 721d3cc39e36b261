"""A challenger trained on wrong labels, judged as a canary by a real streaming job, and dropped.

Everything is real and on the test's own topics: the feedback job (2 s
windows), a gateway serving the digits champion and following the topics'
model updates, clients sending traffic and its true labels through the
gateway, and `airflow dags test retrain_digits` with the canary rollout. The
lake's feedback is mislabeled (each digit as the next one), as by a broken
labeling tool; the run is forced past the offline gate, so only the live gate
stands between the bad model and the users.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
from mlflow import MlflowClient

from closeloop.config import Settings, Topics
from closeloop.events import ModelUpdateEvent
from tests.integration.gateway.conftest import gateway_app, gateway_settings, serve, wait_for_model
from tests.integration.kafka_reading import read_to_end
from tests.integration.streaming.conftest import (  # noqa: F401 (fixtures)
    job_stack_settings,
    run_job,
    topics,
)
from tests.integration.training.conftest import DagsTest
from tests.integration.training.lake_rows import write_labeled
from tests.waiting import NotYet, eventually
from training.promotion import CANARY, CHAMPION, alias_version
from training.usecases import TARGET, get_use_case

DIGITS = get_use_case("digits")
WINDOW_S = 2
CLIENTS = 40
#: Requests a second: enough for the live gate's labels within seconds, with CPU left for the run.
RATE = 40


@dataclass(frozen=True)
class Answer:
    client: str
    status: int
    version: str | None
    served_as: str | None
    correct: bool | None


class Traffic:
    """Clients asking the gateway about clean test digits, each answer followed by its true label."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[Answer] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._rows = DIGITS.base_data().test

    def _run(self) -> None:
        try:
            self._send()
        except BaseException as exc:  # re-raised in the test's thread
            self.errors.append(exc)

    def _send(self) -> None:
        features = DIGITS.features()
        with httpx.Client(base_url=self.url, timeout=30) as http:
            i = 0
            while not self._stop.is_set():
                row = self._rows.iloc[i % len(self._rows)]
                client = f"client-{i % CLIENTS}"
                response = http.post(
                    f"/v1/models/{DIGITS.model_name}/predict",
                    json={"inputs": {f: float(row[f]) for f in features}},
                    headers={"X-Client-Id": client},
                )
                if response.status_code != 200:
                    self.answers.append(Answer(client, response.status_code, None, None, None))
                else:
                    body = response.json()
                    truth = int(row[TARGET])
                    feedback = http.post(
                        "/v1/feedback", json={"prediction_id": body["prediction_id"], "ground_truth": truth}
                    )
                    feedback.raise_for_status()
                    self.answers.append(
                        Answer(client, 200, body["model_version"], body["served_as"], body["output"] == truth)
                    )
                i += 1
                self._stop.wait(1 / RATE)

    @contextmanager
    def running(self) -> Iterator[Traffic]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=60)
        if self.errors:
            raise self.errors[0]


def _in_background(function: Callable[..., object], **kwargs: object) -> Future[object]:
    """``function(**kwargs)`` in a thread of its own; ``result()`` re-raises what it raised."""
    future: Future[object] = Future()

    def run() -> None:
        try:
            future.set_result(function(**kwargs))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name=getattr(function, "__name__", "background"), daemon=True).start()
    return future


def _mislabeled_feedback(settings: Settings, prefix: str) -> None:
    """Clean digits, twice over, each labeled as the next digit."""
    rows = pd.concat([DIGITS.base_data().train] * 2, ignore_index=True)
    rows[TARGET] = (rows[TARGET].astype(int) + 1) % 10
    write_labeled(settings, DIGITS, rows, rows[TARGET].tolist(), prefix=prefix)


def test_a_canary_trained_on_wrong_labels_loses_on_live_feedback_and_is_dropped(
    settings: Settings,
    dags_test: DagsTest,
    lake_prefix: str,
    clean_champion: str,
    topics: Topics,  # noqa: F811
    run_job: Callable,  # noqa: F811
    tmp_path: Path,
) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri)
    _mislabeled_feedback(settings, lake_prefix)
    before = {v.version for v in client.search_model_versions(f"name='{DIGITS.model_name}'")}
    prefix = topics.predictions.rsplit(".", 1)[0]
    # Polls the registry once in ten minutes: what it serves when comes from the run's events.
    config = gateway_settings(
        settings,
        tmp_path / "gateway",
        models=[DIGITS.model_name],
        topic_prefix=prefix,
        canary_share=0.5,
        reload_poll_s=600,
    )
    # The job starts while the run trains: it reads its topics from the start, and the live sensor
    # waits for its windows.
    job = _in_background(
        run_job, window_s=WINDOW_S, sliding_window_s=2 * WINDOW_S, label_delay_s=30, out_of_orderness_s=1
    )
    with serve(gateway_app(config)) as url:
        wait_for_model(lambda path: httpx.get(url + path), DIGITS.model_name, clean_champion)
        with Traffic(url).running() as traffic:
            run = dags_test(
                "retrain_digits",
                {
                    "rollout": "canary",
                    "force": True,
                    "window_days": 1,
                    "live_min_labeled": 100,
                    "live_min_windows": 3,
                    "live_margin": 0.02,
                    "canary_minutes": 5,
                },
                {"CLOSELOOP_TOPIC_PREFIX": prefix, "CLOSELOOP_LIVE_POLL_S": "1"},
                lake_prefix=lake_prefix,
            )

            @eventually(timeout=60, interval=0.5)
            def canary_gone() -> None:
                served = httpx.get(url + "/v1/models").json()
                if any(m["canary"] for m in served):
                    raise NotYet(f"the gateway still serves a canary: {served}")

            canary_gone()
            answered_before_drop = len(traffic.answers)

            @eventually(timeout=30, interval=0.5)
            def answered_since() -> None:
                if len(traffic.answers) < answered_before_drop + 2 * CLIENTS:
                    raise NotYet("too few answers since the canary went")

            answered_since()

    job.result()
    (canary,) = {v.version for v in client.search_model_versions(f"name='{DIGITS.model_name}'")} - before
    tags = client.get_model_version(DIGITS.model_name, canary).tags
    assert tags["closeloop.gate.reason"].startswith("forced despite"), tags["closeloop.gate.reason"]
    # The live gate failed it on the job's windows, and it never became the champion.
    assert tags["closeloop.live.passed"] == "false", (tags, run.stdout[-2000:])
    assert f"canary {canary} is worse than champion {clean_champion}" in tags["closeloop.live.reason"]
    assert alias_version(client, DIGITS.model_name, CHAMPION) == clean_champion
    assert alias_version(client, DIGITS.model_name, CANARY) is None

    # Every request was answered, by the champion or, for its clients, the canary; none by anything else.
    answers = traffic.answers
    assert answers and all(a.status == 200 for a in answers), Counter(a.status for a in answers)
    assert {(a.version, a.served_as) for a in answers} == {(clean_champion, "champion"), (canary, "canary")}
    as_canary = [a for a in answers if a.served_as == "canary"]
    canary_clients = {a.client for a in as_canary}
    assert 0 < len(canary_clients) < CLIENTS
    # Sticky: while the canary served, each client was answered by one version only.
    served = [i for i, a in enumerate(answers) if a.served_as == "canary"]
    versions_of: dict[str, set[str | None]] = {}
    for a in answers[served[0] : served[-1] + 1]:
        versions_of.setdefault(a.client, set()).add(a.version)
    assert all(len(v) == 1 for v in versions_of.values()), versions_of
    # What the live numbers say is what the clients saw: the canary wrong where the champion was right.
    as_champion = [a for a in answers if a.served_as == "champion"]
    seen = {
        side: sum(a.correct for a in group) / len(group)
        for side, group in (("canary", as_canary), ("champion", as_champion))
    }
    print(f"answers: {len(answers)}, {len(as_canary)} by the canary; accuracy seen {seen}")
    print(f"live gate: {tags['closeloop.live.reason']}")
    # (The champion is right on about 97 % of clean digits; the canary on about half.)
    assert seen["canary"] < 0.7 and seen["champion"] > 0.9, seen
    live = float(tags["closeloop.live.version_quality"]), float(tags["closeloop.live.compared_with_quality"])
    assert live[0] < 0.7 and live[1] > 0.9, tags
    assert int(tags["closeloop.live.version_labeled"]) >= 100
    # After the drop, the canary's clients are the champion's again, and at once: the gateway polls
    # the registry once in ten minutes, so it was the run's event that took the canary away. (One
    # request at a time: at most one was routed before the drop and answered after it.)
    after = answers[answered_before_drop + 1 :]
    assert {a.served_as for a in after} == {"champion"}
    assert canary_clients & {a.client for a in after}

    updates = [
        (e.alias, e.version, e.removed)
        for e in read_to_end(settings.kafka_bootstrap, topics.model_updates, {})
        if isinstance(e, ModelUpdateEvent) and e.model_name == DIGITS.model_name
    ]
    assert updates == [(CANARY, canary, False), (CANARY, canary, True)]
