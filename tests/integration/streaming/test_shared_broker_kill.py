"""The gateway and the feedback job share a broker, and it dies: `kill -9` mid-stream, then a restart.

Clients keep predicting and sending feedback through the gateway while the
broker under both (a private one, so the shared stack's Kafka stays up) is
killed and comes back. The gateway spools what it acknowledges meanwhile and
replays it; the job, never resubmitted, rides out the outage. Afterwards:
every prediction and feedback the gateway acknowledged is on Kafka, every
window equals what the reference computation (tests/integration/streaming/
scenario.py, pandas and scikit-learn) makes of the events on Kafka, and the
lake holds each labeled example once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from closeloop.config import Settings, Topics
from closeloop.events import FeedbackEvent, PredictionEvent, encode
from closeloop.events.types import utc_now
from closeloop.stack.manager import LocalStack
from closeloop.stack.process import ProcessRecord
from tests.faults import FaultRecord, Stopwatch, report
from tests.integration.gateway.conftest import (
    ROWS,
    digits_model,  # noqa: F401 (a fixture)
    gateway_app,
    gateway_settings,
    poller,
    serve,
    wait_for_model,
)
from tests.integration.kafka_reading import read_events
from tests.integration.streaming import scenario
from tests.integration.streaming.checks import (
    assert_counted_once,
    committed,
    job_for_scenario,
    jobs_named,
    kill_broker,
    root_exception,
    running_by_itself,
)
from tests.waiting import NotYet, eventually


@pytest.fixture
def job_stack_settings(settings: Settings, private_stack: LocalStack) -> Settings:
    """The shared stack's settings with a private broker's address: the one broker this test kills."""
    private_stack.up(["kafka"])
    return settings.model_copy(update={"kafka_bootstrap": private_stack.settings.kafka_bootstrap})


class Clients:
    """Predict one input at a time and send each prediction's ground truth; keep what was acknowledged."""

    def __init__(self, url: str, model: str) -> None:
        self.url, self.model = url, model
        self.predictions: list[str] = []
        self.feedback: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            i = 0
            while not self._stop.wait(0.02):
                i += 1
                row = ROWS[i % len(ROWS)]
                served = http.post(f"/v1/models/{self.model}/predict", json={"inputs": row})
                if served.status_code != 200:
                    self.failures.append(f"predict {served.status_code} {served.text[:200]}")
                    continue
                prediction_id = served.json()["prediction_id"]
                self.predictions.append(prediction_id)
                # Every fourth one wrong, so accuracy is a number to compare, not 1.0.
                truth = (i // 4) % 10 if i % 4 == 0 else served.json()["output"]
                body = {"prediction_id": prediction_id, "ground_truth": truth, "model_name": self.model}
                answered = http.post("/v1/feedback", json=body)
                if answered.status_code != 202:
                    self.failures.append(f"feedback {answered.status_code} {answered.text[:200]}")
                    continue
                self.feedback.extend(answered.json()["feedback_ids"])

    def count_more(self, n: int) -> None:
        target = len(self.feedback) + n

        @eventually(timeout=120, interval=0.2)
        def sent() -> None:
            if len(self.feedback) < target:
                raise NotYet(f"{len(self.feedback)} of {target} predictions with feedback")

        sent()

    def __enter__(self) -> Clients:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def flush(topics: Topics, send: Callable) -> None:
    """A prediction and its feedback a minute ahead, on both topics: every window of the test closes.

    Within the job's allowed clock skew (5 minutes), so they are not dead letters themselves.
    """
    at = utc_now() + timedelta(seconds=60)
    p = PredictionEvent(
        prediction_id="flush",
        model_name=scenario.FLUSH,
        model_version="1",
        task="classification",
        inputs={},
        output=0,
        latency_ms=1.0,
        ts=at,
    )
    f = FeedbackEvent(prediction_id="flush", ground_truth=0, ts=at)
    send(topics.predictions, [("flush", encode(p))])
    send(topics.feedback, [("flush", encode(f))])


def test_the_gateway_and_the_job_ride_out_a_kill_of_their_broker(
    settings: Settings,
    job_stack_settings: Settings,
    private_stack: LocalStack,
    topics: Topics,
    send: Callable,
    run_job: Callable[..., ProcessRecord],
    digits_model: tuple[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    name, version = digits_model
    prefix = topics.predictions.rsplit(".", 1)[0]
    job_name = f"{prefix}-shared-broker-job"
    job = {**job_for_scenario(settings, topics, tmp_path), "checkpoint_interval_s": 1}
    record = run_job(**job, job_name=job_name)
    job_id = record.job_id
    assert job_id is not None
    config = gateway_settings(
        settings,
        tmp_path / "gateway",
        kafka_bootstrap=job_stack_settings.kafka_bootstrap,
        topic_prefix=prefix,
        models=[name],
        delivery_timeout_ms=2000,
    )
    with serve(gateway_app(config)) as url, poller(url, timeout=10) as http:
        wait_for_model(http.get, name, version)
        with Clients(url, name) as clients:
            clients.count_more(100)

            # The job has checkpointed some of it: the kill lands in the middle of its work.
            @eventually(timeout=120, interval=1)
            def checkpointed() -> None:
                done = [
                    committed(job_stack_settings, f"{job_name}-{t}", getattr(topics, t))
                    for t in ("predictions", "feedback")
                ]
                if min(done) == 0:
                    raise NotYet(f"offsets {done} committed")

            checkpointed()
            kill_broker(private_stack)
            clients.count_more(50)  # acknowledged while the broker is away: in the gateway's spool
            private_stack.up(["kafka"])
            recovery = Stopwatch()
            clients.count_more(100)

            @eventually(timeout=120, interval=0.5)
            def drained() -> None:
                ready = http.get("/readyz").json()
                if ready["spooled"]:
                    raise NotYet(str(ready))

        drained()
    assert clients.failures == []
    running_by_itself(settings, job_name, job_id)

    bootstrap = job_stack_settings.kafka_bootstrap
    # Keys are prediction ids on both topics: one feedback per prediction here.
    predictions = [
        e
        for _, e in read_events(
            bootstrap, topics.predictions, {0: 0}, expected=len(clients.predictions), timeout=60
        )
    ]
    feedback = [
        e
        for _, e in read_events(
            bootstrap, topics.feedback, {0: 0}, expected=len(clients.feedback), timeout=60
        )
    ]
    assert all(isinstance(e, PredictionEvent) for e in predictions)
    assert all(isinstance(e, FeedbackEvent) for e in feedback)
    unique_p = {p.prediction_id: p for p in predictions}  # type: ignore[attr-defined]
    unique_f = {f.feedback_id: f for f in feedback}  # type: ignore[attr-defined]
    acknowledged = set(clients.predictions) | set(clients.feedback)
    lost = acknowledged - set(unique_p) - set(unique_f)
    report(
        FaultRecord(
            scenario="gateway and job's shared broker kill -9",
            unit="events",
            sent=len(acknowledged) + len(clients.failures),
            acknowledged=len(acknowledged),
            found=len(acknowledged) - len(lost),
            lost=len(lost),
            copies=len(predictions) + len(feedback) - len(unique_p) - len(unique_f),
            recovery_s=recovery.seconds(),
        )
    )
    assert lost == set(), f"{len(lost)} acknowledged events never reached Kafka"

    # The reference computation over what is on Kafka: each event once, in its order there.
    s = scenario.Scenario(predictions=list(unique_p.values()), feedback=list(unique_f.values()))  # type: ignore[arg-type]
    flush(topics, send)
    try:
        assert_counted_once(
            job_stack_settings,
            topics,
            job,
            s,
            fault="gateway and job's shared broker kill -9",
            recovery=recovery,
        )
    except NotYet as exc:
        jobs = jobs_named(settings, job_name)
        raise AssertionError(f"{exc}; jobs {jobs}; last failure: {root_exception(settings, job_id)}") from exc
    assert jobs_named(settings, job_name) == {job_id: "RUNNING"}, "one submission, running throughout"
