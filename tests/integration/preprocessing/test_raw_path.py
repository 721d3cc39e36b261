"""Raw audio and images through Kafka, as `closeloop up` runs it: closeloop.raw → the Flink
preprocessing job → closeloop.requests → stream inference → closeloop.results and a prediction event.

Each answer must be the HTTP gateway's on the same file; broken inputs go to
closeloop.dlq with the reason while the job keeps running. The stack's own
topics carry other tests' traffic too: this test picks out its own ids.
"""

from __future__ import annotations

import base64
import io
import random
import uuid

import httpx
import numpy as np
import pytest
from confluent_kafka import Producer
from scipy.signal import resample_poly

from closeloop.config import Settings
from closeloop.events import (
    DeadLetterEvent,
    Event,
    ModelUpdateEvent,
    PredictionEvent,
    RawEvent,
    ResultEvent,
)
from closeloop.inference.stream import prediction_id_of
from closeloop.kafka.publish import publish_events
from closeloop.media.audio import encode_wav
from closeloop.raw_inputs import RawInputStore
from closeloop.stack.manager import LocalStack
from tests.integration.kafka_reading import end_offsets, read_events
from tests.integration.training.conftest import register_clean_champion
from tests.waiting import NotYet, eventually
from training.usecases import get_use_case
from training.usecases.ocr.data import STYLE as OCR_STYLE
from training.usecases.ocr.data import render_line
from training.usecases.speech.data import STYLE as SPEECH_STYLE
from training.usecases.speech.data import speak

SPEECH, OCR = get_use_case("speech"), get_use_case("ocr")


@pytest.fixture(scope="module")
def versions(settings: Settings) -> dict[str, str]:
    return {u.model_name: register_clean_champion(settings, u.name) for u in (SPEECH, OCR)}


def _served(stack: LocalStack, versions: dict[str, str]) -> None:
    """Announce ``versions`` as promotion does, and wait until the stack's gateway and its stream
    inference both serve them."""
    settings = stack.settings
    updates = [ModelUpdateEvent(model_name=name, version=version) for name, version in versions.items()]
    publish_events(settings.kafka_bootstrap, settings.topics.model_updates, updates)
    gateway, inference = stack.services["gateway"].url, stack.services["inference"].url

    @eventually(timeout=180, interval=1)
    def both() -> None:
        served = {m["name"]: m["version"] for m in httpx.get(f"{gateway}/v1/models", timeout=10).json()}
        metrics = httpx.get(f"{inference}/metrics", timeout=10).text
        for name, version in versions.items():
            if served.get(name) != version:
                raise NotYet(f"the gateway serves {served}, not {name} {version}")
            if f'closeloop_inference_model_version{{model="{name}",version="{version}"}} 1.0' not in metrics:
                raise NotYet(f"stream inference does not serve {name} {version} yet")

    both()


def _recordings() -> dict[str, bytes]:
    """One utterance as the files a device may send: 8 kHz stereo, 44.1 kHz mono."""
    audio = speak("seven go right", SPEECH_STYLE, random.Random(11))
    cd = resample_poly(audio, 441, 80)
    return {
        "8k-stereo": encode_wav(np.repeat(audio[:, None], 2, axis=1), 8000),
        "44k-mono": encode_wav(cd, 44100),
        "44k-stereo-uri": encode_wav(np.stack([cd, 0.5 * cd], axis=1), 44100),
    }


def _colour_png() -> bytes:
    line = render_line("closeloop 42", OCR_STYLE, random.Random(5)).convert("RGB")
    buffer = io.BytesIO()
    line.save(buffer, "PNG")
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_raw_audio_and_images_are_answered_as_over_http_and_broken_ones_dead_lettered(
    settings: Settings, stack: LocalStack, versions: dict[str, str]
) -> None:
    _served(stack, versions)
    topics, run = settings.topics, uuid.uuid4().hex[:8]
    files = {**{f"speech-{name}": data for name, data in _recordings().items()}, "ocr-png": _colour_png()}
    store = RawInputStore.from_settings(settings)
    uri = f"s3://{settings.lake_bucket}/test-raw/{run}/long.wav"
    store.client.put_object(
        settings.lake_bucket,
        f"test-raw/{run}/long.wav",
        io.BytesIO(files["speech-44k-stereo-uri"]),
        len(files["speech-44k-stereo-uri"]),
    )
    good = [
        RawEvent(
            raw_id=f"{name}-{run}",
            use_case="ocr" if name.startswith("ocr") else "speech",
            media="image" if name.startswith("ocr") else "audio",
            **({"uri": uri} if name.endswith("uri") else {"data": _b64(data)}),
            source="test",
        )
        for name, data in files.items()
    ]
    png = files["ocr-png"]
    broken = {
        f"truncated-{run}": RawEvent(
            raw_id=f"truncated-{run}", use_case="ocr", media="image", data=_b64(png[:60])
        ),
        f"not-wav-{run}": RawEvent(
            raw_id=f"not-wav-{run}", use_case="speech", media="audio", data=_b64(b"RIFF but not a wave")
        ),
        f"unknown-{run}": RawEvent(raw_id=f"unknown-{run}", use_case="digits", media="image", data=_b64(png)),
        f"missing-{run}": RawEvent(
            raw_id=f"missing-{run}",
            use_case="speech",
            media="audio",
            uri=f"s3://{settings.lake_bucket}/no/{run}",
        ),
    }
    bootstrap = settings.kafka_bootstrap
    since = {t: end_offsets(bootstrap, t) for t in (topics.results, topics.predictions, topics.dlq)}

    def read(topic: str, timeout: float) -> list[tuple[str, Event]]:
        return read_events(bootstrap, topic, since[topic], expected=10_000, timeout=timeout)

    # The broken ones first: the good ones after them show the job went on.
    publish_events(settings.kafka_bootstrap, topics.raw, [*broken.values(), *good])
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(topics.raw, key=f"garbled-{run}".encode(), value=b'{"schema": "closeloop.raw.v1", "raw_')
    assert producer.flush(10) == 0

    wanted = {e.raw_id: e for e in good}

    @eventually(timeout=240, interval=2)
    def answered() -> dict[str, ResultEvent]:
        found = {
            key: event
            for key, event in read(topics.results, timeout=3)
            if key in wanted and isinstance(event, ResultEvent)
        }
        if len(found) < len(wanted):
            raise NotYet(f"results for {sorted(found)} of {sorted(wanted)}")
        return found

    results = answered()
    gateway = stack.services["gateway"].url
    for raw_id, event in wanted.items():
        model = OCR.model_name if event.use_case == "ocr" else SPEECH.model_name
        feature = "image_png" if event.use_case == "ocr" else "audio_wav"
        original = files[raw_id.removesuffix(f"-{run}")]
        answer = httpx.post(
            f"{gateway}/v1/models/{model}/predict", json={"inputs": {feature: _b64(original)}}, timeout=60
        )
        assert answer.status_code == 200, answer.text[:300]
        result = results[raw_id]
        assert result.error is None, result.error
        assert (result.output, result.model_version) == (answer.json()["output"], versions[model]), raw_id
        assert result.prediction_id == prediction_id_of(raw_id)

    logged = {
        event.prediction_id: event
        for _, event in read_events(
            settings.kafka_bootstrap,
            topics.predictions,
            since[topics.predictions],
            expected=10_000,
            timeout=5,
        )
        if isinstance(event, PredictionEvent)
    }
    for raw_id in wanted:
        prediction = logged[prediction_id_of(raw_id)]
        assert prediction.output == results[raw_id].output

    letters = {}
    for _, event in read_events(
        settings.kafka_bootstrap, topics.dlq, since[topics.dlq], expected=10_000, timeout=5
    ):
        if isinstance(event, DeadLetterEvent) and event.source_topic == topics.raw:
            original = base64.b64decode(event.original_base64)
            for raw_id in [*broken, f"garbled-{run}"]:
                if raw_id.encode() in original or event.message_key == raw_id:
                    letters[raw_id] = event
    assert set(letters) == {*broken, f"garbled-{run}"}, sorted(letters)
    assert letters[f"truncated-{run}"].field == "data"
    assert letters[f"not-wav-{run}"].field == "data" and "WAV" in letters[f"not-wav-{run}"].reason
    assert letters[f"unknown-{run}"].field == "use_case" and "digits" in letters[f"unknown-{run}"].reason
    assert letters[f"missing-{run}"].field == "uri"
    # Still running: the good events came after the broken ones.
    assert stack.services["preprocess-job"].probe().ok
