"""The event contracts: round trips, the schema field, errors that name the field."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from closeloop.events import (
    EVENT_TYPES,
    AlertEvent,
    DeadLetterEvent,
    FeatureDrift,
    FeedbackEvent,
    InvalidEventError,
    LatencyQuantiles,
    MetricsEvent,
    ModelUpdateEvent,
    PredictionEvent,
    RawEvent,
    RequestEvent,
    ResultEvent,
    Window,
    decode,
    encode,
)

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
WINDOW = Window(start=T0, end=T0 + timedelta(minutes=1))

EXAMPLES = [
    PredictionEvent(
        prediction_id="p-1",
        model_name="digits",
        model_version="3",
        task="classification",
        inputs={"pixels": [0, 1, 2]},
        output=7,
        scores={"7": 0.9, "1": 0.1},
        latency_ms=2.5,
        ts=T0,
    ),
    PredictionEvent(
        prediction_id="p-2",
        model_name="digits",
        model_version="3",
        task="classification",
        inputs={"pixels": []},
        error="ValueError: expected 64 features",
        output=None,
        latency_ms=0.1,
    ),
    FeedbackEvent(prediction_id="p-1", ground_truth=1, source="labeler", ts=T0),
    MetricsEvent(
        model_name="digits",
        model_version="3",
        task="classification",
        window=WINDOW,
        predictions=100,
        feedback=40,
        labeled=38,
        errors=1,
        label_coverage=0.38,
        error_rate=0.01,
        quality={"accuracy": 0.9, "macro_f1": 0.88},
        latency_ms=LatencyQuantiles(p50=2.0, p95=5.0, p99=9.0),
        drift={"pixel_3": FeatureDrift(psi=0.02, js=0.05)},
    ),
    AlertEvent(
        alert_id="digits-3-accuracy-20261122T1000",
        model_name="digits",
        model_version="3",
        kind="quality",
        rule="accuracy-drop",
        metric="accuracy",
        value=0.71,
        threshold=0.85,
        window=WINDOW,
    ),
    ModelUpdateEvent(
        model_name="digits", version="4", previous_version="3", reference_profile="s3://lake/p.json"
    ),
    RawEvent(raw_id="a-1", use_case="speech", media="audio", content_type="audio/wav", data="UklGRg=="),
    RequestEvent(request_id="r-1", model_name="closeloop-digits", inputs={"pixel_0": 0.0}, source="app"),
    ResultEvent(
        request_id="r-1", prediction_id="p-2", model_name="closeloop-digits", model_version="3", output=7
    ),
    DeadLetterEvent.wrap(
        b"\xff not utf-8",
        reason="(event): not JSON",
        source_topic="closeloop.feedback",
        rejected_by="flink",
        partition=2,
        offset=41,
        key=b"p-9",
    ),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip_through_the_one_serializer(event: object) -> None:
    raw = encode(event)  # type: ignore[arg-type]
    assert json.loads(raw)["schema"] == type(event).SCHEMA  # type: ignore[attr-defined]
    assert decode(raw) == event
    assert decode(raw, type(event)) == event  # type: ignore[arg-type]


def test_every_event_type_has_an_example_and_a_versioned_schema_name() -> None:
    assert {type(e) for e in EXAMPLES} == set(EVENT_TYPES.values())
    for name in EVENT_TYPES:
        assert name.startswith("closeloop.") and name.rsplit(".", 1)[1].startswith("v")


def test_keys_co_partition_predictions_and_feedback() -> None:
    prediction, _, feedback = EXAMPLES[0], EXAMPLES[1], EXAMPLES[2]
    assert prediction.key() == feedback.key() == "p-1"
    assert EXAMPLES[3].key() == EXAMPLES[4].key() == EXAMPLES[5].key() == "digits"


def test_a_dead_letter_keeps_the_original_bytes() -> None:
    import base64

    [letter] = [e for e in EXAMPLES if isinstance(e, DeadLetterEvent)]
    assert isinstance(letter, DeadLetterEvent)
    assert base64.b64decode(letter.original_base64) == b"\xff not utf-8"
    assert letter.original is None  # not UTF-8
    assert letter.message_key == "p-9"
    text = DeadLetterEvent.wrap(b"{oops", reason="r", source_topic="t", rejected_by="gateway")
    assert text.original == "{oops"


def test_timestamps_are_utc_milliseconds_with_a_z() -> None:
    local = datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    event = FeedbackEvent(prediction_id="p", ground_truth=1, ts=local)
    assert json.loads(encode(event))["ts"] == "2026-11-22T10:00:00.123Z"
    assert event.ts == datetime(2026, 11, 22, 10, 0, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize("year", [1, 999, 2026, 9999])
def test_timestamps_of_any_year_round_trip_as_iso_8601(year: int) -> None:
    # strftime's %Y does not pad years before 1000: "1-01-01T…" is not ISO-8601.
    event = FeedbackEvent(prediction_id="p", ground_truth=1, ts=datetime(year, 1, 2, 3, 4, 5, tzinfo=UTC))
    text = json.loads(encode(event))["ts"]
    assert text == f"{year:04d}-01-02T03:04:05.000Z"
    assert decode(encode(event), FeedbackEvent) == event


def test_nan_and_infinity_round_trip_instead_of_turning_into_null() -> None:
    # A NaN feature is a missing value to many models; written as null it would read back as None.
    event = PredictionEvent(
        prediction_id="p-nan",
        model_name="m",
        model_version="1",
        task="regression",
        inputs={"x": float("nan"), "y": [float("inf"), -1.5]},
        output=2.0,
        latency_ms=float("inf"),
    )
    raw = encode(event)
    assert b'"x":NaN' in raw and b'"y":[Infinity,-1.5]' in raw and b'"latency_ms":Infinity' in raw
    back = decode(raw, PredictionEvent)
    assert math.isnan(back.inputs["x"]) and back.inputs["y"] == [math.inf, -1.5]
    assert back.latency_ms == math.inf


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="ts"):
        FeedbackEvent(prediction_id="p", ground_truth=1, ts=datetime(2026, 1, 1))


def raw_prediction(**changes: object) -> bytes:
    data = json.loads(encode(EXAMPLES[0]))
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v != "<drop>"}).encode()


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        (b"not json", "(event)", "not JSON"),
        (b"[1, 2]", "(event)", "not a JSON object"),
        (raw_prediction(schema="<drop>"), "schema", "missing"),
        (raw_prediction(schema="closeloop.prediction.v9"), "schema", "unknown event type"),
        (raw_prediction(prediction_id="<drop>"), "prediction_id", "Field required"),
        (raw_prediction(prediction_id="has space"), "prediction_id", "pattern"),
        (raw_prediction(latency_ms=-1), "latency_ms", "greater than or equal to 0"),
        (raw_prediction(task="translation"), "task", "unknown task 'translation'"),
        (raw_prediction(output=[1, 2]), "output", "must be a label: a string or an integer"),
        (raw_prediction(ts="2026-11-22T10:00:00"), "ts", "timezone"),
        (raw_prediction(colour="blue"), "colour", "Extra inputs are not permitted"),
    ],
)
def test_an_invalid_event_names_the_field_and_why(raw: bytes, field: str, reason: str) -> None:
    with pytest.raises(InvalidEventError) as caught:
        decode(raw)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert caught.value.raw == raw
    assert str(caught.value).startswith(f"{field}: ")


def test_decode_checks_the_expected_type() -> None:
    with pytest.raises(InvalidEventError, match=r"schema: expected 'closeloop\.feedback\.v1'"):
        decode(encode(EXAMPLES[0]), FeedbackEvent)


def test_every_problem_is_kept() -> None:
    with pytest.raises(InvalidEventError) as caught:
        decode(raw_prediction(prediction_id="<drop>", model_name="<drop>"))
    assert [e.field for e in caught.value.errors] == ["prediction_id", "model_name"]
    assert "(and 1 more)" in str(caught.value)


def test_output_is_stored_in_the_task_canonical_form() -> None:
    event = PredictionEvent(
        prediction_id="d",
        model_name="detector",
        model_version="1",
        task="detection",
        inputs={},
        output=[{"box": [0, 0, 2, 2], "label": "cat"}],
        latency_ms=1,
    )
    assert event.output == [{"box": [0.0, 0.0, 2.0, 2.0], "label": "cat", "score": 1.0}]


def test_a_sibling_equals_the_event_built_in_full() -> None:
    first = PredictionEvent(
        prediction_id="a1",
        model_name="detector",
        model_version="1",
        task="detection",
        inputs={"x": 1.0},
        output=[],
        latency_ms=3,
    )
    output = [{"box": [0, 0, 2, 2], "label": "cat"}]
    sibling = first.sibling("b2", {"x": math.nan}, output, None)
    full = PredictionEvent(
        prediction_id="b2",
        model_name="detector",
        model_version="1",
        task="detection",
        inputs={"x": math.nan},
        output=output,
        latency_ms=3,
        ts=first.ts,
    )
    assert encode(sibling) == encode(full)
    assert encode(decode(encode(sibling), PredictionEvent)) == encode(sibling)  # NaN != NaN


def test_a_sibling_output_of_the_wrong_shape_is_refused_as_in_full() -> None:
    first = PredictionEvent(
        prediction_id="a1",
        model_name="m",
        model_version="1",
        task="regression",
        inputs={},
        output=1.5,
        latency_ms=1,
    )
    with pytest.raises(ValidationError) as caught:
        first.sibling("b2", {}, "not a number", None)
    assert caught.value.errors()[0]["loc"] == ("output",)


def test_feedback_shape_is_checked_when_the_task_is_given() -> None:
    with pytest.raises(InvalidEventError) as caught:
        decode(
            encode(FeedbackEvent(prediction_id="p", ground_truth="a cat")).replace(
                b'"ground_truth"', b'"task":"regression","ground_truth"'
            )
        )
    assert caught.value.field == "ground_truth"
    assert "finite number" in caught.value.reason


def test_error_and_output_exclude_each_other() -> None:
    with pytest.raises(InvalidEventError) as caught:
        decode(raw_prediction(error="boom"))
    assert caught.value.field == "output"


def test_window_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="window end must be after its start"):
        Window(start=T0, end=T0)


def test_events_are_immutable() -> None:
    with pytest.raises(ValueError, match="frozen"):
        EXAMPLES[2].source = "someone else"  # type: ignore[misc]


def test_a_result_has_an_output_or_an_error_not_both() -> None:
    failed = ResultEvent(request_id="r", model_name="m", error="0.pixel_0: missing")
    assert failed.output is None and failed.prediction_id is None
    with pytest.raises(InvalidEventError, match="output must be null"):
        decode(encode(failed).replace(b'"output":null', b'"output":7'))


def test_a_raw_input_is_its_bytes_or_a_minio_uri_not_both() -> None:
    by_uri = RawEvent(raw_id="i-1", use_case="ocr", media="image", uri="s3://closeloop-lake/in/1.png")
    assert decode(encode(by_uri)) == by_uri
    cases = {
        "as uri": {},
        "one of the two": {"data": "UklGRg==", "uri": "s3://b/k"},
        "data: must be a non-empty base64 file": {"data": "not base64!"},
        "uri: String should match": {"uri": "http://elsewhere/k"},
        "use_case: String should match": {"use_case": "Speech Recognition", "data": "UklGRg=="},
    }
    for reason, fields in cases.items():
        event = {
            "schema": "closeloop.raw.v1",
            "raw_id": "a",
            "use_case": "speech",
            "media": "audio",
            **fields,
        }
        with pytest.raises(InvalidEventError, match=reason):
            decode(json.dumps(event))
