"""`batch_predict_speech` on the real stack: a folder of recordings in MinIO, one of them broken,
predicted by the champion through Airflow's scheduler; Parquet next to the files, events on Kafka.

The recordings are 8 kHz mono and 44.1 kHz stereo, as files come; the answers
must be what the gateway's loading of the same version gives for the same
bytes.
"""

from __future__ import annotations

import base64
import io
import json
import random
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from scipy.signal import resample_poly

from closeloop.airflow_api import AirflowApiError
from closeloop.config import Settings
from closeloop.events import PredictionEvent
from closeloop.gateway.champions import load_version
from closeloop.media.audio import encode_wav as wav_file
from closeloop.s3 import s3_client
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from tests.integration.kafka_reading import end_offsets, read_events
from tests.integration.training.conftest import register_clean_champion
from tests.waiting import NotYet, eventually
from training.usecases import get_use_case
from training.usecases.speech.data import STYLE, encode_wav, speak

SPEECH = get_use_case("speech")


def _cd_stereo(audio: np.ndarray) -> bytes:
    """``audio`` (8 kHz) as a 44.1 kHz stereo WAV file."""
    cd = resample_poly(audio, 441, 80)
    return wav_file(np.repeat(cd[:, None], 2, axis=1), 44100)


def test_a_folder_of_recordings_is_predicted_and_a_broken_one_is_named(
    settings: Settings, stack: LocalStack, tmp_path: Path
) -> None:
    version = register_clean_champion(settings, "speech")
    client = s3_client(settings)
    bucket, folder = settings.lake_bucket, f"batch-test/{uuid.uuid4().hex[:8]}"
    mono = base64.b64decode(encode_wav(speak("three go left", STYLE, random.Random(3))))
    stereo = _cd_stereo(speak("stop seven", STYLE, random.Random(4)))
    files = {
        "a-mono.wav": mono,
        "b-stereo.wav": stereo,
        "c-broken.wav": mono[:30],  # a header cut short
        "predictions-earlier-run.parquet": b"an earlier run's output, not an input",
    }
    for name, data in files.items():
        client.put_object(bucket, f"{folder}/{name}", io.BytesIO(data), len(data))
    since = end_offsets(settings.kafka_bootstrap, settings.topics.predictions)

    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    api, dag = airflow.api(), "batch_predict_speech"

    @eventually(timeout=120, interval=3)
    def triggered() -> str:
        try:  # a DAG file new to a running stack is parsed within a refresh interval (30 s)
            return api.trigger(dag, conf={"folder": f"s3://{bucket}/{folder}/"})
        except AirflowApiError as exc:
            raise NotYet(str(exc)) from exc

    run_id = triggered()
    finished = api.wait(dag, run_id, timeout_s=300)
    assert finished["state"] == "success", finished
    summary = api.xcom(dag, run_id, "predict")
    assert (summary["model_version"], summary["files"], summary["predicted"]) == (version, 3, 2), summary
    assert list(summary["failures"]) == [f"{folder}/c-broken.wav"]
    assert summary["published"] == 2
    assert "c-broken.wav" in api.run(dag, run_id)["note"]

    # What the gateway's loading of the same version answers for the same bytes.
    registry = MlflowClient(settings.mlflow_tracking_uri)
    model = load_version(
        registry, SPEECH.model_name, version, tracking_uri=settings.mlflow_tracking_uri, cache=tmp_path
    )
    expected = model.predict(
        [{"audio_wav": base64.b64encode(data).decode()} for data in (mono, stereo)], "instances"
    ).outputs
    assert expected == ["three go left", "stop seven"]

    output_key = summary["output"].removeprefix(f"s3://{bucket}/")
    assert output_key.startswith(f"{folder}/predictions-")
    response = client.get_object(bucket, output_key)
    try:
        table = pd.read_parquet(io.BytesIO(response.read()))
    finally:
        response.close()
        response.release_conn()
    assert list(table["file"]) == [f"{folder}/a-mono.wav", f"{folder}/b-stereo.wav"]
    assert [json.loads(o) for o in table["output"]] == expected

    events = {
        key: event
        for key, event in read_events(
            settings.kafka_bootstrap, settings.topics.predictions, since, expected=2
        )
        if key in set(table["prediction_id"])
    }
    assert len(events) == 2
    for row in table.itertuples():
        event = events[row.prediction_id]
        assert isinstance(event, PredictionEvent)
        assert event.model_version == version and event.task == "speech_to_text"
        assert event.inputs == {"audio_wav": f"s3://{bucket}/{row.file}"}
        assert event.features is not None and set(event.features) == set(SPEECH.monitored())
