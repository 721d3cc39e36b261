"""Stream inference: model-ready requests from Kafka answered with the gateway's champion pool.

Each request on ``closeloop.requests`` gets a prediction event on
``closeloop.predictions`` (for the streaming job and the lake, as the
gateway's) and a result on ``closeloop.results``, keyed by its request id, for
the applications that read answers from Kafka. A batch's offsets are committed
only once all its events are acknowledged: at least once, and the prediction
id is derived from the request id, so a request delivered twice is one
prediction for the streaming job. Replicas share the work as one consumer
group; a model's champion is swapped by the pool between two batches, so a
swap fails nothing. A model's canary, if it has one, answers its share of
the requests as in the gateway, chosen by request id: a request delivered
twice is answered by the same version.

A request that breaks its contract, names no served model or whose input the
model refuses goes to the dead letters with the reason, and gets a result
with that error; a model that fails on good input gets an error result and
an error prediction event (the error rate counts it), as with the gateway.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Histogram

from closeloop.config import Topics
from closeloop.errors import InputError
from closeloop.events import (
    Event,
    FieldError,
    InvalidEventError,
    PredictionEvent,
    RequestEvent,
    ResultEvent,
    decode,
    encode,
)
from closeloop.gateway.canary import CanaryRouter
from closeloop.gateway.champions import (
    ChampionPool,
    LoadedModel,
    ModelUnavailableError,
    Predicted,
    UnknownModelError,
)
from closeloop.kafka.consume import take_batch
from closeloop.kafka.dead_letters import dead_letter
from closeloop.kafka.publish import PublishError
from closeloop.raw_inputs import RawInputError, RawInputStore

__all__ = ["StreamInference", "prediction_id_of"]

_log = logging.getLogger("closeloop.inference")

# Prediction ids of streamed requests: uuid5 of the request id, the same on a redelivery.
_NAMESPACE = uuid.UUID("0b8f3c52-7a4e-4d8e-9f3a-5c1d2e6b7a90")


def prediction_id_of(request_id: str) -> str:
    return uuid.uuid5(_NAMESPACE, request_id).hex


@dataclass
class _Outcome:
    """What one request comes to: the events to send, by topic."""

    events: list[tuple[str, Event]]
    outcome: str


class StreamInference:
    """A consumer of ``topics.requests`` in group ``group`` that answers each batch of requests.

    :param raw_store: where raw inputs too large for an event go, as the gateway puts them.
    """

    def __init__(
        self,
        pool: ChampionPool,
        *,
        bootstrap: str,
        topics: Topics,
        group: str,
        registry: CollectorRegistry,
        raw_store: RawInputStore | None = None,
        batch_size: int = 256,
        unavailable_retry_s: float = 2.0,
        canaries: CanaryRouter | None = None,
    ) -> None:
        self.pool = pool
        self.canaries = canaries
        self.topics = topics
        self.batch_size = batch_size
        self.raw_store = raw_store
        self.unavailable_retry_s = unavailable_retry_s
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                # Replicas joining or leaving move only the partitions that must move.
                "partition.assignment.strategy": "cooperative-sticky",
                "log_level": 3,
            }
        )
        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5, "log_level": 3}
        )
        self._stopping = threading.Event()
        self._partitions: set[int] = set()
        self.requests = Counter(
            "closeloop_inference_requests",
            "Requests by model and outcome (served, invalid, unknown_model, bad_input, model_error).",
            ["model", "outcome"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "closeloop_inference_batch_seconds",
            "Time from a batch's consumption to its commit.",
            registry=registry,
        )

    def start(self) -> None:
        # Incremental (cooperative) assignments: each callback names only what moves.
        self._consumer.subscribe(
            [self.topics.requests], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked
        )

    def _assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._partitions |= {p.partition for p in partitions}

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._partitions -= {p.partition for p in partitions}

    def assignment(self) -> set[int]:
        """The partitions of the requests topic this replica reads now (kept by the rebalance
        callbacks: the consumer itself cannot be asked from another thread while it polls)."""
        return set(self._partitions)

    def answered(self, model: str, outcome: str) -> int:
        """How many requests for ``model`` this replica answered with ``outcome``."""
        return int(self.requests.labels(model, outcome)._value.get())

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        self._consumer.close()
        self._producer.flush(10)

    def run(self) -> None:
        """Answer batches until :meth:`stop`; a batch that cannot be delivered is consumed again."""
        self.start()
        try:
            while not self._stopping.is_set():
                try:
                    self.step()
                except (PublishError, ModelUnavailableError, RawInputError) as exc:
                    # Nothing of the batch was committed: read it again from the last commit.
                    _log.warning("%s; reading the batch again in %.0f s", exc, self.unavailable_retry_s)
                    self._rewind()
                    self._stopping.wait(self.unavailable_retry_s)
        finally:
            self.close()

    def step(self, timeout_s: float = 1.0) -> int:
        """Consume up to a batch, answer it, wait for its events, commit; how many messages it held."""
        messages = take_batch(self._consumer, self.batch_size, timeout_s)
        if not messages:
            return 0
        started = time.perf_counter()
        broken = [m for m in messages if m.error() is not None]
        for message in broken:
            _log.warning("consumer error: %s", message.error())
        events = self.answer([m for m in messages if m.error() is None])
        self.publish(events)
        self._consumer.commit(asynchronous=False)
        self.batch_seconds.observe(time.perf_counter() - started)
        return len(messages)

    def answer(self, messages: Sequence[Message]) -> list[tuple[str, Event]]:
        """The events (by topic) that answer ``messages``, in their order within each model."""
        events: list[tuple[str, Event]] = []
        by_model: dict[str, list[tuple[Message, RequestEvent]]] = {}
        for message in messages:
            try:
                request = decode(message.value() or b"", RequestEvent)
            except InvalidEventError as exc:
                events.append(self._dead_letter(message, exc))
                self.requests.labels("", "invalid").inc()
                continue
            by_model.setdefault(request.model_name, []).append((message, request))
        for name, requests in by_model.items():
            try:
                model = self.pool.ensure(name)
            except UnknownModelError as exc:
                for message, request in requests:
                    events += self._refused(message, request, FieldError("model_name", str(exc)))
                self.requests.labels(name, "unknown_model").inc(len(requests))
                continue
            for version, batch in self._routed(model, requests):
                for outcome in self._predict(version, batch):
                    events += outcome.events
                    self.requests.labels(name, outcome.outcome).inc()
        return events

    def _routed(
        self, champion: LoadedModel, requests: list[tuple[Message, RequestEvent]]
    ) -> list[tuple[LoadedModel, list[tuple[Message, RequestEvent]]]]:
        """The requests each version answers: the canary's share of them by request id, the rest
        the champion's."""
        if self.canaries is None:
            return [(champion, requests)]
        by_version: dict[str, tuple[LoadedModel, list[tuple[Message, RequestEvent]]]] = {}
        for message, request in requests:
            model = self.canaries.pick(champion, request.request_id)
            by_version.setdefault(model.version, (model, []))[1].append((message, request))
        return list(by_version.values())

    def _predict(self, model: LoadedModel, requests: list[tuple[Message, RequestEvent]]) -> list[_Outcome]:
        instances = [request.inputs for _, request in requests]
        started = time.perf_counter()
        try:
            predicted = model.predict(instances, "instances")
        except InputError:
            if len(requests) == 1:
                return [self._one(model, *requests[0])]
            # One bad input fails the whole call: each alone, so that only the bad ones fail.
            return [self._one(model, message, request) for message, request in requests]
        except Exception as exc:  # the model's own failure, not the input's
            latency_ms = (time.perf_counter() - started) * 1000
            _log.exception("model %s version %s failed", model.name, model.version)
            return [self._failed(model, request, exc, latency_ms) for _, request in requests]
        latency_ms = (time.perf_counter() - started) * 1000
        return self._served(model, [request for _, request in requests], predicted, latency_ms)

    def _one(self, model: LoadedModel, message: Message, request: RequestEvent) -> _Outcome:
        started = time.perf_counter()
        try:
            predicted = model.predict([request.inputs], "instances")
        except InputError as exc:
            problem = FieldError(_input_field(exc.field), exc.reason)
            return _Outcome(self._refused(message, request, problem), "bad_input")
        except Exception as exc:
            _log.exception("model %s version %s failed", model.name, model.version)
            return self._failed(model, request, exc, (time.perf_counter() - started) * 1000)
        [served] = self._served(model, [request], predicted, (time.perf_counter() - started) * 1000)
        return served

    def _served(
        self, model: LoadedModel, requests: list[RequestEvent], predicted: Predicted, latency_ms: float
    ) -> list[_Outcome]:
        none: list[Any] = [None] * len(requests)
        predictions = [
            _prediction(model, request, latency_ms, output=output, scores=scores, features=features)
            for request, output, scores, features in zip(
                requests, predicted.outputs, predicted.scores or none, predicted.features or none, strict=True
            )
        ]
        logged = predictions
        if self.raw_store is not None and any(
            self.raw_store.too_large(v) for r in requests for v in r.inputs.values()
        ):
            # As the gateway does: the lake gets the big input's URI, not its bytes. RawInputError
            # (the store is away) fails the batch, which is then read again.
            logged, _ = self.raw_store.offload(predictions)
        outcomes = []
        for request, prediction, event in zip(requests, predictions, logged, strict=True):
            result = _result(request, prediction)
            outcomes.append(
                _Outcome([(self.topics.predictions, event), (self.topics.results, result)], "served")
            )
        return outcomes

    def _failed(
        self, model: LoadedModel, request: RequestEvent, exc: Exception, latency_ms: float
    ) -> _Outcome:
        reason = f"model {model.name} version {model.version} failed: {type(exc).__name__}: {exc}"[:500]
        prediction = _prediction(model, request, latency_ms, output=None, error=reason)
        result = _result(request, prediction)
        return _Outcome([(self.topics.predictions, prediction), (self.topics.results, result)], "model_error")

    def _refused(
        self, message: Message, request: RequestEvent, problem: FieldError
    ) -> list[tuple[str, Event]]:
        """A request that cannot be served as it is: a dead letter, and a result that says why."""
        error = InvalidEventError([problem], message.value())
        result = ResultEvent(request_id=request.request_id, model_name=request.model_name, error=str(problem))
        return [self._dead_letter(message, error), (self.topics.results, result)]

    def _dead_letter(self, message: Message, error: InvalidEventError) -> tuple[str, Event]:
        _log.warning(
            "request at %s[%s]@%s to the dead letters: %s",
            message.topic(),
            message.partition(),
            message.offset(),
            error,
        )
        return self.topics.dlq, dead_letter(
            message, error, topic=self.topics.requests, rejected_by="inference"
        )

    def publish(self, events: list[tuple[str, Event]]) -> None:
        """Send ``events`` (topic, event) and wait for each; PublishError if any is not acknowledged."""
        errors: list[str] = []

        def delivered(error: object, _message: object) -> None:
            if error is not None:
                errors.append(str(error))

        for topic, event in events:
            self._producer.produce(topic, key=event.key(), value=encode(event), on_delivery=delivered)
        if self._producer.flush(30) or errors:
            raise PublishError(f"{len(events)} answer events not acknowledged: {errors or 'timed out'}")

    def _rewind(self) -> None:
        """Back to the last committed offsets of the assigned partitions, to consume a batch again."""
        assigned = self._consumer.assignment()
        if not assigned:
            return
        for partition in self._consumer.committed(assigned, timeout=10):
            if partition.offset >= 0:
                self._consumer.seek(partition)
            else:  # nothing committed yet: from where the group starts
                partition.offset = -2  # OFFSET_BEGINNING, as auto.offset.reset says
                self._consumer.seek(partition)


def _prediction(
    model: LoadedModel, request: RequestEvent, latency_ms: float, **outcome: Any
) -> PredictionEvent:
    """The prediction event of one request: ``output`` (``scores``, ``features``) if served, ``error`` if
    not; its id derived from the request's."""
    return PredictionEvent(
        prediction_id=prediction_id_of(request.request_id),
        model_name=model.name,
        model_version=model.version,
        task=model.task.name,
        inputs=request.inputs,
        latency_ms=latency_ms,
        **outcome,
    )


def _result(request: RequestEvent, prediction: PredictionEvent) -> ResultEvent:
    """A request's result: what its prediction event says."""
    return ResultEvent(
        request_id=request.request_id,
        prediction_id=prediction.prediction_id,
        model_name=prediction.model_name,
        model_version=prediction.model_version,
        output=prediction.output,
        scores=prediction.scores,
        error=prediction.error,
        latency_ms=prediction.latency_ms,
    )


def _input_field(field: str) -> str:
    """A model's field for one of a batch's inputs ("instances.0.audio_wav") as the request's own
    ("inputs.audio_wav")."""
    parts = field.split(".")
    while parts and (parts[0] in ("instances", "inputs") or parts[0].isdigit()):
        parts = parts[1:]
    return ".".join(["inputs", *parts])
