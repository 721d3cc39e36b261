"""Kafka stops mid-stream and comes back: the gateway keeps serving, spools, replays, loses nothing."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from closeloop.config import Settings
from closeloop.stack.manager import LocalStack
from tests.faults import FaultRecord, Stopwatch, report
from tests.integration.gateway.conftest import gateway_app, gateway_settings, poller, serve, wait_for_model
from tests.integration.kafka_reading import read_events
from tests.integration.registry_models import digits_frame
from tests.waiting import NotYet, eventually

ROWS = [{k: float(v) for k, v in r.items()} for r in digits_frame()[0].iloc[:40].to_dict("records")]


class Sender:
    """Predicts one input at a time and keeps every prediction id the gateway returned."""

    def __init__(self, url: str, model: str) -> None:
        self.url, self.model = url, model
        self.ids: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as http:
            i = 0
            while not self._stop.is_set():
                i += 1
                response = http.post(f"/v1/models/{self.model}/predict", json={"inputs": ROWS[i % len(ROWS)]})
                if response.status_code == 200:
                    self.ids.append(response.json()["prediction_id"])
                else:
                    self.failures.append(f"{response.status_code} {response.text[:200]}")
                time.sleep(0.01)

    def count_more(self, n: int) -> None:
        target = len(self.ids) + n

        @eventually(timeout=60, interval=0.1)
        def sent() -> None:
            if len(self.ids) < target:
                raise NotYet(f"{len(self.ids)} of {target} predictions")

        sent()

    def __enter__(self) -> Sender:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def test_broker_outage_loses_no_prediction(
    private_stack: LocalStack, settings: Settings, digits_model: tuple[str, str], tmp_path: Path
) -> None:
    name, version = digits_model
    private_stack.up(["kafka"])
    private = private_stack.settings
    config = gateway_settings(
        settings,
        tmp_path / "gateway",
        kafka_bootstrap=private.kafka_bootstrap,
        models=[name],
        delivery_timeout_ms=2000,
    )
    with serve(gateway_app(config)) as url, poller(url, timeout=10) as http:
        wait_for_model(http.get, name, version)
        with Sender(url, name) as sender:
            sender.count_more(50)
            private_stack.down(["kafka"])
            sender.count_more(100)  # served while the broker is away

            # Spooled events and the broker check are separate signals, the
            # latter cached for a second: wait for both rather than read one
            # readiness answer that may hold only the first.
            @eventually(timeout=30, interval=0.5)
            def degraded() -> None:
                ready = http.get("/readyz").json()
                if ready["status"] != "degraded" or not ready["spooled"] or ready["kafka"] != "unreachable":
                    raise NotYet(str(ready))

            degraded()
            private_stack.up(["kafka"])
            recovery = Stopwatch()
            sender.count_more(50)

            @eventually(timeout=90, interval=0.5)
            def drained() -> None:
                ready = http.get("/readyz").json()
                if ready["status"] != "ready" or ready["spooled"]:
                    raise NotYet(str(ready))

            drained()
            recovered_in = recovery.seconds()
        ids = set(sender.ids)
        assert len(ids) >= 200

    # The topic is new on the private broker: every event on it is this test's.
    events = read_events(
        private.kafka_bootstrap,
        private.topics.predictions,
        dict.fromkeys(range(3), 0),
        expected=len(ids),
        timeout=60,
    )
    found = Counter(key for key, _ in events)
    report(
        FaultRecord(
            scenario="gateway's Kafka broker stopped under load",
            unit="events",
            sent=len(ids) + len(sender.failures),
            acknowledged=len(ids),
            found=len(ids & set(found)),
            lost=len(ids - set(found)),
            copies=sum(n - 1 for n in found.values()),
            recovery_s=recovered_in,
        )
    )
    assert sender.failures == []
    assert ids - set(found) == set(), f"{len(ids - set(found))} predictions never reached Kafka"
