"""The OCR use case: lines made here, read well when clean, badly when drifted, well again when retrained."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from closeloop.errors import InputError
from closeloop.tasks import get_task
from training.usecases import TARGET, BaseData
from training.usecases.digits import DigitsUseCase
from training.usecases.ocr import OcrUseCase
from training.usecases.ocr.data import ALPHABET, FEATURES, HEIGHT, STYLE, encode_png, render_frame
from training.usecases.ocr.drift import DRIFT_KINDS, drift_frame
from training.usecases.ocr.image import MAX_PNG_BYTES, decode, ink
from training.usecases.ocr.model import _glyph_count, glyphs
from training.usecases.ocr.monitoring import MONITORING

# The clean target, and the retrained one: within the clean target, or 2x it.
CLEAN_CER = 0.05
DRIFTED_CER = 0.3


@pytest.fixture(scope="module")
def use_case() -> OcrUseCase:
    return OcrUseCase()


@pytest.fixture(scope="module")
def base(use_case: OcrUseCase) -> BaseData:
    return use_case.base_data()


@pytest.fixture(scope="module")
def model(use_case: OcrUseCase, base: BaseData) -> Any:
    return use_case.train(base.train, {})


def _png(image: Image.Image, format: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return base64.b64encode(buffer.getvalue()).decode()


def test_base_data_is_the_same_every_time_and_uses_the_alphabet(use_case: OcrUseCase, base: BaseData) -> None:
    again = use_case.base_data()
    pd.testing.assert_frame_equal(base.train, again.train)
    assert (len(base.train), len(base.test)) == (1500, 400)
    assert list(base.train.columns) == [*FEATURES, TARGET]
    text = "".join(base.train[TARGET])
    assert set(text) == set(ALPHABET) | {" "}


def test_decode_gives_the_model_height_whatever_the_image_size() -> None:
    image = Image.new("L", (50, 64), 255)
    grey = decode(_png(image))
    assert grey.shape == (HEIGHT, 25)
    assert grey.min() == grey.max() == 1.0
    assert decode(_png(Image.new("RGB", (40, HEIGHT), (0, 0, 0)), "JPEG")).shape == (HEIGHT, 40)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"GIF89a not really").decode(), "cannot be decoded"),
        (base64.b64encode(b"\x89PNG\r\n\x1a\n truncated").decode(), "cannot be decoded"),
        (_png(Image.new("L", (8, 8)), "GIF"), "must be a PNG or JPEG"),
        (base64.b64encode(b"\0" * (MAX_PNG_BYTES + 1)).decode(), "at most"),
        (_png(Image.new("L", (9000, 40))), "pixels wide"),
        (3, "must be a base64 string"),
    ],
)
def test_decode_says_what_is_wrong_with_a_bad_image(value: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        decode(value)


def test_clean_lines_are_read_within_the_target(use_case: OcrUseCase, base: BaseData, model: Any) -> None:
    metrics = use_case.evaluate(model, base.test)
    assert metrics["cer"] <= CLEAN_CER, metrics
    # The metrics are the task plug-in's on the model's own outputs.
    outputs = use_case.predict(model, base.test)
    assert metrics == get_task("ocr").metrics(outputs, list(base.test[TARGET]))
    assert all(isinstance(o, str) for o in outputs)


@pytest.mark.parametrize("kind", DRIFT_KINDS)
def test_each_drift_costs_quality_and_a_retrain_on_drifted_lines_wins_it_back(
    use_case: OcrUseCase, base: BaseData, model: Any, kind: str
) -> None:
    drifted_test = drift_frame(base.test, kind, 1.0, seed=1)
    assert use_case.evaluate(model, drifted_test)["cer"] > DRIFTED_CER
    feedback = drift_frame(base.train.iloc[:600], kind, 1.0, seed=2)
    retrained = use_case.train(pd.concat([base.train, feedback], ignore_index=True), {})
    assert use_case.evaluate(retrained, drifted_test)["cer"] <= CLEAN_CER
    assert use_case.evaluate(retrained, base.test)["cer"] <= CLEAN_CER


def test_drift_keeps_the_texts_and_is_reproducible(use_case: OcrUseCase, base: BaseData) -> None:
    rows = base.test.iloc[:40]
    first, second = drift_frame(rows, "font", 0.5, seed=3), drift_frame(rows, "font", 0.5, seed=3)
    pd.testing.assert_frame_equal(first, second)
    assert list(first[TARGET]) == list(rows[TARGET])
    # Half the lines in the new font: its thinner strokes, on average, half way.
    widths = [
        use_case.monitoring(frame)["stroke_width"].mean()
        for frame in (rows, first, drift_frame(rows, "font", 1.0, seed=3))
    ]
    assert widths[0] > widths[1] > widths[2]
    pd.testing.assert_frame_equal(drift_frame(rows, "blur", 0.0), rows)
    with pytest.raises(ValueError, match="known kinds: blur, font"):
        drift_frame(rows, "rain")
    with pytest.raises(ValueError, match=">= 0"):
        drift_frame(rows, "blur", -1)


def test_monitoring_numbers_move_with_each_drift(use_case: OcrUseCase, base: BaseData) -> None:
    clean = use_case.monitoring(base.test.iloc[:100])
    assert list(clean.columns) == MONITORING
    assert np.isfinite(clean.to_numpy()).all()
    blurred = use_case.monitoring(drift_frame(base.test.iloc[:100], "blur", 1.0))
    new_font = use_case.monitoring(drift_frame(base.test.iloc[:100], "font", 1.0))
    assert blurred["sharpness"].mean() < 0.5 * clean["sharpness"].mean()
    assert new_font["stroke_width"].mean() < 0.85 * clean["stroke_width"].mean()


def test_noise_and_faded_ink_show_in_their_numbers() -> None:
    texts = ["TOTAL 123"] * 10
    plain = OcrUseCase().monitoring(render_frame(texts, STYLE))
    noisy = OcrUseCase().monitoring(render_frame(texts, STYLE.but(noise=12.0)))
    faded = OcrUseCase().monitoring(render_frame(texts, STYLE.but(ink=(150, 160))))
    assert noisy["noise"].mean() > 2 * plain["noise"].mean()
    assert faded["contrast"].mean() < 0.5 * plain["contrast"].mean()


def test_the_reference_profile_bins_the_monitoring_numbers_not_the_text(
    use_case: OcrUseCase, base: BaseData, model: Any
) -> None:
    profile = use_case.reference_profile(model, base.test, "7")
    assert list(profile.features) == MONITORING
    assert profile.output is None
    assert profile.rows == len(base.test)


def test_a_line_the_reader_cannot_cut_reads_as_empty(model: Any) -> None:
    blank = encode_png(Image.new("L", (60, HEIGHT), 255))
    assert model.predict([blank]) == [""]


def test_the_model_monitors_what_the_use_case_profiles(
    use_case: OcrUseCase, base: BaseData, model: Any
) -> None:
    rows = base.test.iloc[:5]
    pd.testing.assert_frame_equal(
        model.monitor(rows[FEATURES]), use_case.monitoring(rows).reset_index(drop=True)
    )


def test_an_image_that_does_not_decode_is_the_inputs_fault_by_its_index(base: BaseData, model: Any) -> None:
    images = [base.test[FEATURES[0]].iloc[0], "not base64!"]
    with pytest.raises(InputError) as caught:
        model.predict(images)
    assert caught.value.field == "1.image_png" and "base64" in caught.value.reason
    with pytest.raises(InputError, match=r"^1\.image_png"):
        model.monitor(pd.DataFrame({FEATURES[0]: images}))


def test_drift_is_measured_on_the_monitoring_numbers_beside_the_raw_input(
    use_case: OcrUseCase, base: BaseData
) -> None:
    rows = base.test.iloc[:3]
    with_numbers = use_case.with_monitoring(rows)
    assert list(with_numbers.columns) == [*FEATURES, TARGET, *MONITORING]
    assert use_case.monitored() == MONITORING
    assert use_case.inputs_ok(["iVBORw0KGgo="]) and not use_case.inputs_ok(["iVBORw0KGgo=", 3.0])
    # A use case of numbers measures drift on its inputs, as they are.
    digits = DigitsUseCase()
    frame = digits.base_data().test.iloc[:3]
    assert digits.monitored() == digits.features()
    assert digits.with_monitoring(frame) is frame
    assert digits.inputs_ok([3, 0.5]) and digits.inputs_ok([])
    assert not digits.inputs_ok([3, True]) and not digits.inputs_ok(["3"]) and not digits.inputs_ok([None])


def test_counting_glyphs_agrees_with_cutting_them(base: BaseData) -> None:
    for image in base.test[FEATURES[0]].head(30):
        amount = ink(decode(image))
        for threshold in (0.1, 0.4, 0.9, 1.0):
            assert _glyph_count(amount, threshold) == len(glyphs(amount, threshold)[0])
