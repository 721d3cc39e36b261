"""Batch predictions: which files are inputs, how a file becomes inputs, and that one bad file fails
alone while the rest are predicted and become prediction events with ids stable across a retry."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from closeloop.errors import InputError
from closeloop.gateway.champions import LoadedModel, Predicted
from closeloop.tasks import get_task
from training.batch_predict import (
    BatchInputError,
    batch_instances,
    input_keys,
    output_key,
    predict_files,
    split_uri,
)
from training.usecases import get_use_case

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_inputs_are_the_folders_files_but_not_what_a_run_wrote_or_hid() -> None:
    listing = [
        "batch/b.wav",
        "batch/a.png",
        "batch/predictions-manual__2026.parquet",
        "batch/.part-1",
        "batch/_SUCCESS",
        "batch/sub/",
        "batch/sub/c.wav",
    ]
    assert input_keys(listing) == ["batch/a.png", "batch/b.wav", "batch/sub/c.wav"]


def test_a_runs_predictions_go_next_to_its_inputs_named_by_the_run() -> None:
    key = output_key("batch/speech/", "manual__2026-12-05T12:00:00+00:00")
    assert key == "batch/speech/predictions-manual__2026-12-05T12_00_00_00_00.parquet"
    assert input_keys([key]) == []


def test_the_folder_is_an_s3_uri_of_a_bucket_and_a_folder() -> None:
    assert split_uri("s3://lake/batch/speech") == ("lake", "batch/speech/")
    for bad in ("lake/batch", "s3://lake", "s3://lake/", "s3:///batch"):
        with pytest.raises(BatchInputError, match="s3://<bucket>/<folder>/"):
            split_uri(bad)


def test_a_raw_file_is_one_input_and_its_event_records_its_uri() -> None:
    speech = get_use_case("speech")
    [(instance, recorded)] = batch_instances(speech, "b/one.wav", b"RIFF....", "s3://lake/b/one.wav")
    assert instance == {"audio_wav": base64.b64encode(b"RIFF....").decode()}
    assert recorded == {"audio_wav": "s3://lake/b/one.wav"}
    with pytest.raises(BatchInputError, match="empty"):
        batch_instances(speech, "b/empty.wav", b"", "s3://lake/b/empty.wav")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_table_is_a_row_per_input_for_a_use_case_of_numbers(suffix: str) -> None:
    digits = get_use_case("digits")
    rows = digits.base_data().test.head(3)[digits.features()]
    data = rows.to_parquet() if suffix == ".parquet" else rows.to_csv(index=False).encode()
    pairs = batch_instances(digits, f"b/t{suffix}", data, f"s3://lake/b/t{suffix}")
    assert len(pairs) == 3
    assert [instance for instance, _ in pairs] == json.loads(rows.to_json(orient="records"))
    assert all(instance == recorded for instance, recorded in pairs)


def test_a_table_that_cannot_be_an_input_says_why() -> None:
    digits = get_use_case("digits")
    with pytest.raises(BatchInputError, match=r"not \.png"):
        batch_instances(digits, "b/x.png", b"\x89PNG", "s3://lake/b/x.png")
    with pytest.raises(BatchInputError, match=r"lacks the column.*pixel_1"):
        batch_instances(digits, "b/t.csv", b"pixel_0\n1\n", "s3://lake/b/t.csv")
    with pytest.raises(BatchInputError, match="cannot read the table"):
        batch_instances(digits, "b/t.parquet", b"not parquet", "s3://lake/b/t.parquet")


def _model() -> LoadedModel:
    """Reads a "recording" as its text; raises for one that does not decode, as a use case's model does."""

    def predict(instances: Sequence[dict[str, Any]], where: str) -> Predicted:
        texts = []
        for index, instance in enumerate(instances):
            raw = base64.b64decode(instance["audio_wav"])
            if not raw.startswith(b"say:"):
                raise InputError(f"{index}.audio_wav", "not a WAV file")
            texts.append(raw.removeprefix(b"say:").decode())
        return Predicted(texts, None, [{"duration_s": float(len(t))} for t in texts])

    return LoadedModel("closeloop-speech", "7", get_task("speech_to_text"), ["audio_wav"], predict)


def _files(contents: dict[str, bytes]) -> list[tuple[str, str, Any]]:
    return [(key, f"s3://lake/{key}", lambda data=data: data) for key, data in contents.items()]


def test_a_bad_file_fails_alone_and_the_rest_become_events() -> None:
    speech = get_use_case("speech")
    files = {"b/1.wav": b"say:one two", "b/2.wav": b"garbage", "b/3.wav": b"say:stop"}
    result = predict_files(_model(), speech, _files(files), run_id="run-1", now=lambda: NOW)

    assert result.counts() == {"files": 3, "predicted": 2, "failed": 1}
    assert result.failures == {"b/2.wav": "0.audio_wav: not a WAV file"}
    assert "2.wav: 0.audio_wav: not a WAV file" in result.summary()
    assert [e.output for e in result.events] == ["one two", "stop"]
    first = result.events[0]
    assert (first.model_name, first.model_version, first.task) == ("closeloop-speech", "7", "speech_to_text")
    assert first.inputs == {"audio_wav": "s3://lake/b/1.wav"} and first.features == {"duration_s": 7.0}
    assert first.ts == NOW
    frame = result.frame()
    assert list(frame["file"]) == ["b/1.wav", "b/3.wav"]
    assert list(frame["prediction_id"]) == [e.prediction_id for e in result.events]
    assert [json.loads(o) for o in frame["output"]] == ["one two", "stop"]
    # Parquet as the DAG writes it.
    assert pd.read_parquet(io.BytesIO(frame.to_parquet(index=False))).shape == (2, 7)


def test_a_retry_gives_the_same_prediction_ids_and_another_run_new_ones() -> None:
    speech = get_use_case("speech")
    files = {"b/1.wav": b"say:one", "b/2.wav": b"say:two"}

    def ids(run_id: str) -> list[str]:
        return [e.prediction_id for e in predict_files(_model(), speech, _files(files), run_id=run_id).events]

    assert ids("run-1") == ids("run-1")
    assert len(set(ids("run-1")) | set(ids("run-2"))) == 4


def test_a_file_that_cannot_be_read_is_a_failure_too() -> None:
    def unreadable() -> bytes:
        raise OSError("connection reset")

    result = predict_files(
        _model(), get_use_case("speech"), [("b/1.wav", "s3://lake/b/1.wav", unreadable)], run_id="r"
    )
    assert result.failures == {"b/1.wav": "OSError: connection reset"} and result.events == []
