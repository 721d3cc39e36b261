"""A raw input too large for its event goes to MinIO, and the event carries its URI.

A nine-second stereo recording at 44.1 kHz is 2 MB in base64: Kafka would
refuse its event. The gateway serves it, stores the WAV in the lake bucket
and logs the prediction with an ``s3://`` URI in its place, which the
retrain reads back as the model's input. A short utterance stays inline.
When MinIO is away, the large request gets a 503 that says so, and the
small ones are still served.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from scipy.signal import resample_poly

from closeloop.config import Settings
from closeloop.events import PredictionEvent
from closeloop.media.audio import encode_wav as wav_file
from closeloop.raw_inputs import RawInputStore, is_uri
from tests.integration.gateway.conftest import free_port, wait_for_model
from tests.integration.kafka_reading import end_offsets, read_events
from tests.integration.training.conftest import register_clean_champion
from training.dataset import feedback_frame
from training.usecases import get_use_case
from training.usecases.speech.data import STYLE, encode_wav, speak

SPEECH = get_use_case("speech")
WORDS = "three go left"


@pytest.fixture(scope="module")
def speech_version(settings: Settings) -> str:
    return register_clean_champion(settings, "speech")


def _long_recording(audio: np.ndarray) -> str:
    """``audio`` (8 kHz) as a 9 s, 44.1 kHz stereo WAV in base64, silence after the words."""
    cd = resample_poly(audio, 441, 80)
    cd = np.pad(cd, (0, 9 * 44100 - cd.size))
    return base64.b64encode(wav_file(np.repeat(cd[:, None], 2, axis=1), 44100)).decode("ascii")


def _predict(client: TestClient, audio_wav: str) -> Any:
    return client.post(f"/v1/models/{SPEECH.model_name}/predict", json={"inputs": {"audio_wav": audio_wav}})


def test_a_large_raw_input_travels_as_a_minio_uri_and_is_read_back_for_training(
    settings: Settings, speech_version: str, client_for: Callable[..., TestClient]
) -> None:
    audio = speak(WORDS, STYLE, random.Random(3))
    short, long = encode_wav(audio), _long_recording(audio)
    assert len(long) > 2_000_000 > 900_000 > len(short)
    client = client_for(models=[SPEECH.model_name])
    wait_for_model(client.get, SPEECH.model_name, speech_version)
    since = end_offsets(settings.kafka_bootstrap, settings.topics.predictions)

    answers = [_predict(client, short), _predict(client, long)]
    assert [a.status_code for a in answers] == [200, 200], [a.text[:300] for a in answers]
    # The same words, whether 8 kHz mono or 44.1 kHz stereo.
    assert [a.json()["output"] for a in answers] == [WORDS, WORDS]

    ids = [a.json()["prediction_id"] for a in answers]
    logged = {
        key: event
        for key, event in read_events(
            settings.kafka_bootstrap, settings.topics.predictions, since, expected=100
        )
        if key in ids
    }
    small, large = logged[ids[0]], logged[ids[1]]
    assert isinstance(small, PredictionEvent) and isinstance(large, PredictionEvent)
    assert small.inputs["audio_wav"] == short
    uri = large.inputs["audio_wav"]
    assert is_uri(uri) and uri.startswith(f"s3://{settings.lake_bucket}/raw/{SPEECH.model_name}/"), uri
    assert uri.endswith(f"/{ids[1]}/audio_wav")
    # Drift is still measured on it: the numbers the model computed from the recording.
    assert large.features is not None and set(large.features) == set(SPEECH.monitored())

    store = RawInputStore.from_settings(settings)
    assert base64.b64decode(store.fetch(uri)) == base64.b64decode(long)
    # The lake holds the event's inputs; the retrain's frame holds the recording again.
    lake = pd.DataFrame(
        [
            {
                "prediction_id": e.prediction_id,
                "model_version": e.model_version,
                "inputs": json.dumps(e.inputs),
                "output": json.dumps(e.output),
                "ground_truth": json.dumps(WORDS),
                "feedback_ts": e.ts,
            }
            for e in (small, large)
        ]
    )
    frame, counts = feedback_frame(lake, SPEECH, fetch=store.fetch)
    assert counts["unfetched"] == 0 and len(frame) == 2
    model = mlflow.pyfunc.load_model(f"models:/{SPEECH.model_name}/{speech_version}")
    assert SPEECH.predict(model, frame) == [WORDS, WORDS]


def test_without_minio_a_large_raw_input_gets_a_503_and_small_ones_are_served(
    settings: Settings, speech_version: str, client_for: Callable[..., TestClient]
) -> None:
    client = client_for(models=[SPEECH.model_name], s3_endpoint=f"http://127.0.0.1:{free_port()}")
    wait_for_model(client.get, SPEECH.model_name, speech_version)
    audio = speak(WORDS, STYLE, random.Random(4))

    refused = _predict(client, _long_recording(audio))
    assert refused.status_code == 503, refused.text[:300]
    assert "store for large raw inputs is unavailable" in refused.json()["detail"]
    assert refused.headers["Retry-After"] == "5"
    served = _predict(client, encode_wav(audio))
    assert served.status_code == 200 and served.json()["output"] == WORDS
