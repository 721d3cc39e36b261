"""A 2xx means durable: `kill -9` the gateway under load, twice, and every acknowledged id is on Kafka.

The first kill hits a gateway publishing straight to Kafka; the second one a
gateway whose broker is away, so that what it acknowledged was only in its
disk spool; the restarted gateway replays it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from closeloop.config import Settings
from closeloop.events import FeedbackEvent, PredictionEvent
from closeloop.stack.manager import LocalStack
from tests.faults import FaultRecord, Stopwatch, report
from tests.integration.gateway.conftest import free_port, wait_for_model
from tests.integration.kafka_reading import read_to_end
from tests.integration.registry_models import digits_frame
from tests.waiting import NotYet, eventually

ROWS = [{k: float(v) for k, v in r.items()} for r in digits_frame()[0].iloc[:40].to_dict("records")]


class Client(threading.Thread):
    """Predicts, then sends feedback for what it got; keeps each id the gateway answered 2xx for."""

    def __init__(self, url: str, model: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.model, self.stop = url, model, stop
        self.predictions: list[str] = []
        self.feedback: list[str] = []
        self.errors: list[str] = []
        #: Requests that reached a gateway, answered or not.
        self.sent = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            i = 0
            while not self.stop.is_set():
                i += 1
                self.sent += 1
                try:
                    answer = http.post(
                        f"/v1/models/{self.model}/predict", json={"inputs": ROWS[i % len(ROWS)]}
                    )
                    if answer.status_code != 200:
                        self.errors.append(f"{answer.status_code} {answer.text[:200]}")
                        continue
                    self.predictions.append(answer.json()["prediction_id"])
                    item = {"prediction_id": self.predictions[-1], "ground_truth": i % 10}
                    self.sent += 1
                    answer = http.post("/v1/feedback", json=item)
                    if answer.status_code == 202:
                        self.feedback.extend(answer.json()["feedback_ids"])
                except httpx.ConnectError:
                    self.sent -= 1  # no gateway listening: the request was never sent
                except httpx.TransportError:
                    pass  # the gateway was killed mid-request: no answer, no promise


@contextmanager
def load(url: str, model: str, clients: int = 3) -> Iterator[list[Client]]:
    stop = threading.Event()
    running = [Client(url, model, stop) for _ in range(clients)]
    for client in running:
        client.start()
    try:
        yield running
    finally:
        stop.set()
        for client in running:
            client.join(timeout=60)


def acknowledged(clients: list[Client]) -> int:
    return sum(len(c.predictions) + len(c.feedback) for c in clients)


def wait_for_more(clients: list[Client], n: int) -> None:
    target = acknowledged(clients) + n

    @eventually(timeout=120, interval=0.1)
    def more() -> None:
        if acknowledged(clients) < target:
            raise NotYet(f"{acknowledged(clients)} of {target} acknowledged")

    more()


class Gateway:
    """The gateway as its own process, as the stack runs it, so that it can be killed."""

    def __init__(self, port: int, env: dict[str, str], log: Path) -> None:
        self.port, self.env, self.log = port, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, model: str, version: str) -> None:
        command = [sys.executable, "-m", "uvicorn", "closeloop.gateway.app:create_app", "--factory"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=out, start_new_session=True
            )

        @eventually(timeout=120, interval=0.3)
        def up() -> None:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
            except httpx.TransportError as exc:
                raise NotYet("gateway starting") from exc

        up()
        wait_for_model(
            lambda path: httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5), model, version
        )

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def readyz(self) -> dict:
        return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=10).json()


def test_every_event_acknowledged_before_a_kill_9_is_on_kafka(
    private_stack: LocalStack, settings: Settings, digits_model: tuple[str, str], tmp_path: Path
) -> None:
    name, version = digits_model
    private_stack.up(["kafka"])
    private = private_stack.settings
    env = os.environ | {  # the private stack's ports and state directory are in the environment already
        "CLOSELOOP_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "CLOSELOOP_MODELS": json.dumps([name]),
        "CLOSELOOP_DELIVERY_TIMEOUT_MS": "2000",
        "CLOSELOOP_ENV_FILE": str(tmp_path / "no.env"),
    }
    port = free_port()
    gateway = Gateway(port, env, tmp_path / "gateway.log")
    gateway.start(name, version)
    with load(f"http://127.0.0.1:{port}", name) as clients:
        wait_for_more(clients, 300)
        gateway.kill()  # publishing straight to Kafka
        gateway.start(name, version)
        wait_for_more(clients, 100)

        private_stack.down(["kafka"])
        wait_for_more(clients, 200)  # acknowledged from the spool only
        assert gateway.readyz()["spooled"] > 0
        gateway.kill()
        private_stack.up(["kafka"])
        gateway.start(name, version)
        recovery = Stopwatch()
        wait_for_more(clients, 100)

        @eventually(timeout=120, interval=0.5)
        def drained() -> None:
            ready = gateway.readyz()
            if ready["status"] != "ready" or ready["spooled"]:
                raise NotYet(str(ready))

        drained()
        recovered_in = recovery.seconds()
    gateway.kill()
    assert all(not c.is_alive() for c in clients)
    assert not [e for c in clients for e in c.errors], "every answer was 2xx or no answer at all"

    on_kafka = Counter(
        e.prediction_id
        for e in read_to_end(private.kafka_bootstrap, private.topics.predictions, {})
        if isinstance(e, PredictionEvent)
    )
    on_kafka.update(
        e.feedback_id
        for e in read_to_end(private.kafka_bootstrap, private.topics.feedback, {})
        if isinstance(e, FeedbackEvent)
    )
    predicted = fed_back = set(on_kafka)
    promised_predictions = {i for c in clients for i in c.predictions}
    promised_feedback = {i for c in clients for i in c.feedback}
    promised = promised_predictions | promised_feedback
    report(
        FaultRecord(
            scenario="gateway kill -9 under load, twice (once spooling)",
            unit="events",
            sent=sum(c.sent for c in clients),
            acknowledged=len(promised),
            found=len(promised & set(on_kafka)),
            lost=len(promised - set(on_kafka)),
            copies=sum(n - 1 for n in on_kafka.values()),
            recovery_s=recovered_in,
        )
    )
    assert len(promised_predictions) >= 350
    assert promised_predictions - predicted == set(), "acknowledged predictions missing from Kafka"
    assert promised_feedback - fed_back == set(), "acknowledged feedback missing from Kafka"
