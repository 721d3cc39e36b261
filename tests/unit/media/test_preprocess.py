"""A raw event becomes a request for its use case's model, or a dead letter that says why."""

from __future__ import annotations

import base64
import io
import json
import wave

import numpy as np
import pytest

from closeloop.events import RawEvent, RequestEvent, encode
from closeloop.media.audio import decode_wav, encode_wav
from closeloop.media.normalize import AudioSpec, ImageSpec, RawInput
from closeloop.media.preprocess import Preprocessed, preprocess

RATE = 8000
INPUTS = {
    "speech": RawInput(
        model_name="closeloop-speech",
        spec=AudioSpec(feature="audio_wav", rate=RATE, max_seconds=5, max_bytes=1 << 20),
    ),
    "ocr": RawInput(model_name="closeloop-ocr", spec=ImageSpec(feature="image_png", max_bytes=1 << 20)),
}
STORE: dict[str, bytes] = {}


def _fetch(uri: str) -> bytes:
    if uri not in STORE:
        raise KeyError(f"no such key: {uri}")
    return STORE[uri]


def _cd(seconds: float = 0.3) -> bytes:
    t = np.arange(int(44100 * seconds)) / 44100
    tone = 0.3 * np.sin(2 * np.pi * 300 * t)
    return encode_wav(np.repeat(tone[:, None], 2, axis=1), 44100)


def _run(event: RawEvent | bytes) -> Preprocessed:
    message = event if isinstance(event, bytes) else encode(event)
    return preprocess(message, INPUTS, _fetch, source_topic="closeloop.raw", partition=1, offset=7, key=b"k")


def test_a_recording_becomes_a_request_for_the_use_cases_model() -> None:
    cd = _cd()
    event = RawEvent(
        raw_id="a-1", use_case="speech", media="audio", data=base64.b64encode(cd).decode(), source="app"
    )
    done = _run(event)
    assert done.dead_letter is None and isinstance(done.request, RequestEvent)
    request = done.request
    assert (request.request_id, request.model_name, request.source) == ("a-1", "closeloop-speech", "app")
    normalized = base64.b64decode(request.inputs["audio_wav"])
    with wave.open(io.BytesIO(normalized)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (1, RATE)
    assert np.allclose(
        decode_wav(normalized, rate=RATE, max_seconds=5), decode_wav(cd, rate=RATE, max_seconds=5), atol=1e-6
    )


def test_a_file_named_by_uri_is_read_from_the_store() -> None:
    STORE["s3://lake/in/a.wav"] = encode_wav(np.zeros(800, np.float32), RATE)
    done = _run(RawEvent(raw_id="a-2", use_case="speech", media="audio", uri="s3://lake/in/a.wav"))
    assert done.request is not None and "audio_wav" in done.request.inputs


@pytest.mark.parametrize(
    ("event", "field", "reason"),
    [
        (b"{not json", "(event)", "not JSON"),
        (
            RawEvent(raw_id="a", use_case="video", media="image", data="UklGRg=="),
            "use_case",
            "known: ocr, speech",
        ),
        (RawEvent(raw_id="a", use_case="ocr", media="audio", data="UklGRg=="), "media", "ocr takes image"),
        (
            RawEvent(raw_id="a", use_case="speech", media="audio", data="UklGRg=="),
            "data",
            "not a PCM WAV file",
        ),
        (
            RawEvent(raw_id="a", use_case="ocr", media="image", data="iVBORw0KGgo="),
            "data",
            "cannot be decoded",
        ),
        (
            RawEvent(raw_id="a", use_case="ocr", media="image", uri="s3://lake/missing.png"),
            "uri",
            "no such key",
        ),
    ],
)
def test_what_cannot_become_a_request_is_a_dead_letter_saying_why(
    event: RawEvent | bytes, field: str, reason: str
) -> None:
    done = _run(event)
    assert done.request is None and done.dead_letter is not None
    letter = done.dead_letter
    assert letter.field == field and reason in letter.reason, letter.reason
    assert (letter.source_topic, letter.partition, letter.offset, letter.message_key) == (
        "closeloop.raw",
        1,
        7,
        "k",
    )
    assert letter.rejected_by == "preprocess"
    original = event if isinstance(event, bytes) else encode(event)
    assert base64.b64decode(letter.original_base64) == original
    json.loads(encode(letter))
