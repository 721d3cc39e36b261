"""Stream inference on real Kafka and MLflow: requests in, prediction events and results out, bad
requests to the dead letters with their reason, a champion swapped mid-stream failing nothing, and
two replicas in one consumer group sharing the partitions.

Each test has topics of its own (a private prefix), so other tests' traffic is not in the way.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from prometheus_client import CollectorRegistry

from closeloop.config import Settings, Topics
from closeloop.events import DeadLetterEvent, PredictionEvent, RequestEvent, ResultEvent
from closeloop.gateway.canary import CANARY_ALIAS, CanaryRouter, in_canary
from closeloop.gateway.champions import ChampionPool
from closeloop.inference.stream import StreamInference, prediction_id_of
from closeloop.kafka.admin import ensure_topics
from closeloop.kafka.publish import publish_events
from closeloop.stack.manager import LocalStack
from tests.integration.kafka_reading import end_offsets, read_events
from tests.integration.registry_models import digits_frame, register_digits
from tests.integration.training.conftest import register_clean_champion
from tests.waiting import NotYet, eventually
from training.usecases import get_use_case

DIGITS = get_use_case("digits")
PARTITIONS = 2
BEGINNING = dict.fromkeys(range(PARTITIONS), 0)


@pytest.fixture
def topics(settings: Settings, stack: LocalStack) -> Topics:
    topics = Topics(f"test-{uuid.uuid4().hex[:8]}")
    ensure_topics(settings.kafka_bootstrap, topics.all(), partitions=PARTITIONS)
    return topics


@pytest.fixture
def pool(settings: Settings, tmp_path: Path) -> ChampionPool:
    return ChampionPool(
        tracking_uri=settings.mlflow_tracking_uri,
        alias="champion",
        registry=CollectorRegistry(),
        cache=tmp_path,
    )


@contextmanager
def _running(
    settings: Settings,
    pool: ChampionPool,
    topics: Topics,
    group: str,
    canaries: CanaryRouter | None = None,
) -> Iterator[StreamInference]:
    service = StreamInference(
        pool,
        bootstrap=settings.kafka_bootstrap,
        topics=topics,
        group=group,
        registry=CollectorRegistry(),
        canaries=canaries,
    )
    thread = threading.Thread(target=service.run, name=f"inference-{group}", daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.stop()
        thread.join(timeout=30)
        assert not thread.is_alive()


def _requests(rows: int, *, start: int = 0) -> list[RequestEvent]:
    frame = DIGITS.base_data().test.iloc[start : start + rows][DIGITS.features()]
    return [
        RequestEvent(request_id=f"r-{start + i}", model_name=DIGITS.model_name, inputs=row, source="test")
        for i, row in enumerate(frame.to_dict(orient="records"))
    ]


def _results(settings: Settings, topics: Topics, count: int) -> dict[str, ResultEvent]:
    found = read_events(settings.kafka_bootstrap, topics.results, BEGINNING, expected=count, timeout=90)
    results = {key: event for key, event in found if isinstance(event, ResultEvent)}
    assert len(results) == count, sorted(results)
    return results


def test_requests_are_answered_and_bad_ones_dead_lettered(
    settings: Settings, topics: Topics, pool: ChampionPool
) -> None:
    version = register_clean_champion(settings, "digits")
    good = _requests(40)
    missing = RequestEvent(
        request_id="r-missing",
        model_name=DIGITS.model_name,
        inputs={k: v for k, v in good[0].inputs.items() if k != "pixel_5"},
    )
    unknown = RequestEvent(request_id="r-unknown", model_name="closeloop-no-such-model", inputs={"x": 1.0})
    publish_events(settings.kafka_bootstrap, topics.requests, [*good[:20], missing, unknown, *good[20:]])
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(
        topics.requests, key=b"broken", value=b'{"schema": "closeloop.request.v1", "request_id": '
    )
    producer.flush(10)
    # A request delivered twice, as an at-least-once sender may: the same prediction.
    publish_events(settings.kafka_bootstrap, topics.requests, [good[3]])

    with _running(settings, pool, topics, group=f"g-{uuid.uuid4().hex[:6]}"):
        results = _results(settings, topics, 42)

    model = pool.get(DIGITS.model_name)
    assert model is not None and model.version == version
    expected = model.predict([r.inputs for r in good], "instances").outputs
    assert [results[r.request_id].output for r in good] == expected
    for request in good:
        result = results[request.request_id]
        assert (result.model_version, result.error) == (version, None)
        assert result.prediction_id == prediction_id_of(request.request_id)
    assert "pixel_5" in (results["r-missing"].error or "") and results["r-missing"].prediction_id is None
    assert "closeloop-no-such-model" in (results["r-unknown"].error or "")

    logged = read_events(settings.kafka_bootstrap, topics.predictions, BEGINNING, expected=40)
    predictions = {key: e for key, e in logged if isinstance(e, PredictionEvent)}
    assert set(predictions) == {prediction_id_of(r.request_id) for r in good}
    assert all(p.model_version == version and p.error is None for p in predictions.values())
    assert predictions[prediction_id_of("r-7")].output == results["r-7"].output
    # The duplicate came out as the same prediction, twice: the streaming job keeps one.
    assert [k for k, _ in logged].count(prediction_id_of(good[3].request_id)) == 2

    letters = [e for _, e in read_events(settings.kafka_bootstrap, topics.dlq, BEGINNING, expected=3)]
    assert all(isinstance(e, DeadLetterEvent) and e.rejected_by == "inference" for e in letters)
    fields = sorted(e.field or "" for e in letters if isinstance(e, DeadLetterEvent))
    assert fields == ["(event)", "inputs.pixel_5", "model_name"], fields


def test_a_canary_answers_its_share_of_the_requests_the_same_one_each_time(
    settings: Settings, topics: Topics, pool: ChampionPool, tmp_path: Path, unique_name: str
) -> None:
    champion = register_digits(settings.mlflow_tracking_uri, unique_name, rows=600)
    canary = register_digits(settings.mlflow_tracking_uri, unique_name, rows=1200, alias=CANARY_ALIAS)
    canaries = ChampionPool(
        tracking_uri=settings.mlflow_tracking_uri,
        alias=CANARY_ALIAS,
        registry=CollectorRegistry(),
        cache=tmp_path / "canaries",
        drop_when_gone=True,
    )
    canaries.load(unique_name)  # what the canary watcher does on the canary's event
    rows = digits_frame()[0].iloc[:200].to_dict(orient="records")
    requests = [
        RequestEvent(request_id=f"r-{i}", model_name=unique_name, inputs=row) for i, row in enumerate(rows)
    ]
    # The first twenty delivered twice, as an at-least-once sender may.
    publish_events(settings.kafka_bootstrap, topics.requests, [*requests[:20], *requests])

    router = CanaryRouter(canaries, default_share=0.5)
    with _running(settings, pool, topics, group=f"g-{uuid.uuid4().hex[:6]}", canaries=router):
        logged = read_events(
            settings.kafka_bootstrap, topics.predictions, BEGINNING, expected=200, timeout=90
        )

    versions: dict[str, set[str]] = {}
    for key, event in logged:
        assert isinstance(event, PredictionEvent)
        versions.setdefault(key, set()).add(event.model_version)
    assert len(versions) == 200
    # Each request answered by one version, the same when delivered again: the router's, by request id.
    assert all(len(v) == 1 for v in versions.values()), versions
    chosen = {r.request_id: versions[prediction_id_of(r.request_id)].pop() for r in requests}
    assert all((v == canary) == in_canary(rid, 0.5) for rid, v in chosen.items())
    assert set(chosen.values()) == {champion, canary}
    # 200 draws of a half: 4 standard deviations is 0.14.
    assert abs(list(chosen.values()).count(canary) / 200 - 0.5) < 0.15


def test_a_champion_swapped_mid_stream_fails_nothing(
    settings: Settings, topics: Topics, pool: ChampionPool
) -> None:
    first = register_clean_champion(settings, "digits")
    before, after = _requests(60), _requests(60, start=60)
    with _running(settings, pool, topics, group=f"g-{uuid.uuid4().hex[:6]}"):
        publish_events(settings.kafka_bootstrap, topics.requests, before)
        second = register_clean_champion(settings, "digits")
        # What the model-update watcher does on the event: load the new champion in the background.
        pool.load_in_background(DIGITS.model_name, second)

        @eventually(timeout=60, interval=0.5)
        def swapped() -> None:
            if (model := pool.get(DIGITS.model_name)) is None or model.version != second:
                raise NotYet("the new champion is not served yet")

        swapped()
        publish_events(settings.kafka_bootstrap, topics.requests, after)
        results = _results(settings, topics, 120)
    assert all(r.error is None for r in results.values())
    assert {r.model_version for r in results.values()} <= {first, second}
    assert {results[r.request_id].model_version for r in after} == {second}


def test_two_replicas_in_one_group_share_the_partitions(
    settings: Settings, topics: Topics, pool: ChampionPool
) -> None:
    register_clean_champion(settings, "digits")
    group = f"g-{uuid.uuid4().hex[:6]}"
    with (
        _running(settings, pool, topics, group=group) as one,
        _running(settings, pool, topics, group=group) as two,
    ):

        @eventually(timeout=60, interval=0.5)
        def balanced() -> None:
            sizes = [len(s.assignment()) for s in (one, two)]
            if sizes != [1, 1]:
                raise NotYet(f"partitions per replica: {sizes}")

        balanced()
        publish_events(settings.kafka_bootstrap, topics.requests, _requests(80))
        results = _results(settings, topics, 80)
        served = [s.answered(DIGITS.model_name, "served") for s in (one, two)]
    assert all(r.error is None for r in results.values())
    assert sum(served) >= 80 and min(served) > 0, served


def test_the_stacks_service_answers_on_the_stacks_topics(settings: Settings, stack: LocalStack) -> None:
    """`closeloop up` runs it: a request on closeloop.requests is answered on closeloop.results."""
    version = register_clean_champion(settings, "digits")
    since = end_offsets(settings.kafka_bootstrap, settings.topics.results)
    [request] = _requests(1, start=int(uuid.uuid4().int % 400))
    request = request.model_copy(update={"request_id": f"stack-{uuid.uuid4().hex}"})
    publish_events(settings.kafka_bootstrap, settings.topics.requests, [request])

    @eventually(timeout=120, interval=1)
    def answered() -> ResultEvent:
        for key, event in read_events(
            settings.kafka_bootstrap, settings.topics.results, since, expected=1000, timeout=2
        ):
            if key == request.request_id and isinstance(event, ResultEvent):
                return event
        raise NotYet("no result yet")

    result = answered()
    # The service may still serve the version before this test's until its update arrives.
    assert result.error is None and result.output is not None and result.model_version is not None
    assert int(result.model_version) <= int(version)
    assert result.prediction_id == prediction_id_of(request.request_id)
    # Its /metrics, which Prometheus scrapes: the requests it served, and the version it serves.
    # That is this test's once the update reaches the service, which may be after the answer
    # above (served by the version before): the old version's gauge is then gone.
    served = f'model="{DIGITS.model_name}",version="{version}"'

    @eventually(timeout=120, interval=1)
    def metrics() -> str:
        text = httpx.get(stack.services["inference"].url + "/metrics", timeout=10).text
        if f"closeloop_inference_model_version{{{served}}} 1.0" not in text:
            raise NotYet(f"not serving version {version} yet")
        return text

    assert f'closeloop_inference_requests_total{{model="{DIGITS.model_name}",outcome="served"}}' in metrics()
