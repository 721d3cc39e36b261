"""The preprocessing job's plan: raw events in once, each to requests or to the dead letters."""

from __future__ import annotations

import base64
import io
import json

from PIL import Image

from closeloop.config import Topics
from closeloop.events import DeadLetterEvent, RawEvent, RequestEvent, decode, encode
from closeloop.media.normalize import ImageSpec, RawInput
from closeloop.media.preprocess import preprocess
from closeloop.preprocessing.routing import DEAD_LETTER, REQUEST, routed
from closeloop.preprocessing.settings import PreprocessJobSettings
from closeloop.preprocessing.sql import build_sql

INPUTS = {"ocr": RawInput(model_name="closeloop-ocr", spec=ImageSpec(feature="image_png", max_bytes=1 << 16))}


def _settings(**values: object) -> PreprocessJobSettings:
    return PreprocessJobSettings(_env_file=None, kafka_bootstrap="kafka:9092", **values)  # type: ignore[call-arg]


def _nothing_stored(uri: str) -> bytes:
    raise KeyError(uri)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 8), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_request_goes_to_the_requests_keyed_by_its_raw_id() -> None:
    png = _png()
    event = RawEvent(raw_id="img-1", use_case="ocr", media="image", data=base64.b64encode(png).decode())
    kind, key, value = routed(preprocess(encode(event), INPUTS, _nothing_stored, source_topic="t.raw"))
    assert (kind, key) == (REQUEST, "img-1")
    request = decode(value, RequestEvent)
    assert request.request_id == "img-1" and request.model_name == "closeloop-ocr"


def test_a_broken_event_goes_to_the_dead_letters_with_its_reason_and_place() -> None:
    event = RawEvent(
        raw_id="img-2", use_case="ocr", media="image", data=base64.b64encode(b"\x89PNG").decode()
    )
    outcome = preprocess(encode(event), INPUTS, _nothing_stored, source_topic="t.raw", partition=1, offset=9)
    kind, key, value = routed(outcome)
    letter = decode(value, DeadLetterEvent)
    assert (kind, key) == (DEAD_LETTER, "t.raw")
    assert (letter.field, letter.partition, letter.offset) == ("data", 1, 9)
    assert "image" in letter.reason
    assert json.loads(base64.b64decode(letter.original_base64))["raw_id"] == "img-2"


def test_the_job_reads_the_raw_topic_once_and_routes_by_kind() -> None:
    s = _settings(topic_prefix="t", preprocess_job_name="pre")
    sql = build_sql(s)
    text = "\n".join(sql.statements())
    topics = Topics("t")
    assert f"'topic' = '{topics.raw}'" in text and "'properties.group.id' = 'pre'" in text
    # One call of the Python function per event: one view, read by both inserts.
    assert text.count("preprocess_raw(") == 1
    assert sql.inserts == [
        f"INSERT INTO requests_sink SELECT k, v FROM preprocessed WHERE kind = '{REQUEST}'",
        f"INSERT INTO dlq_sink SELECT k, v FROM preprocessed WHERE kind = '{DEAD_LETTER}'",
    ]
    assert f"'topic' = '{topics.requests}'" in text and f"'topic' = '{topics.dlq}'" in text


def test_an_empty_parallelism_from_compose_is_unset() -> None:
    assert _settings(preprocess_parallelism="").preprocess_parallelism is None
    assert _settings(preprocess_parallelism="3").preprocess_parallelism == 3
