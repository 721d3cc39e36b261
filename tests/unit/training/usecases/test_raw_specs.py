"""Each raw-input use case's spec, as the preprocessing of raw events reads it: up to date in
flink/raw_inputs.json, and normalizing a file by it hands the model what the file itself would."""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image
from scipy.signal import resample_poly

from closeloop.media.audio import encode_wav
from closeloop.media.normalize import AudioSpec, ImageSpec, load_raw_inputs, normalize
from training.usecases import get_use_case, use_case_names
from training.usecases.ocr.image import decode as ocr_decode
from training.usecases.raw_specs import SPEC_FILE, stale
from training.usecases.shapes.image import decode as shapes_decode
from training.usecases.speech.audio import decode as speech_decode

#: How each use case's model decodes its input: what must not tell the two files apart.
DECODERS: dict[str, Callable[[str], np.ndarray]] = {
    "speech": speech_decode,
    "ocr": ocr_decode,
    "shapes": shapes_decode,
}


def test_the_spec_file_is_up_to_date() -> None:
    assert not stale(), f"{SPEC_FILE} is stale: python -m training.usecases.raw_specs --write"


def test_the_file_reads_back_as_each_use_cases_model_and_spec() -> None:
    entries = load_raw_inputs(SPEC_FILE)
    assert set(entries) == {n for n in use_case_names() if get_use_case(n).raw_inputs}
    for name, entry in entries.items():
        assert (entry.model_name, entry.spec) == (get_use_case(name).model_name, get_use_case(name).raw_spec)


@pytest.mark.parametrize("name", use_case_names())
def test_a_use_case_of_raw_inputs_has_a_spec_for_its_one_input(name: str) -> None:
    use_case = get_use_case(name)
    if not use_case.raw_inputs:
        assert use_case.raw_spec is None
        return
    assert use_case.raw_spec is not None and [use_case.raw_spec.feature] == use_case.features()
    assert name in DECODERS, f"add {name}'s decoding to this test"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _variants(spec: AudioSpec | ImageSpec, original: bytes) -> list[bytes]:
    """The file as sent, and as another common format of it: 44.1 kHz stereo audio, a JPEG image."""
    if isinstance(spec, AudioSpec):
        with wave.open(io.BytesIO(original)) as wav:
            samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float64) / 32768
        cd = resample_poly(samples, 441, spec.rate // 100)
        return [original, encode_wav(np.repeat(cd[:, None], 2, axis=1), 44100)]
    buffer = io.BytesIO()
    Image.open(io.BytesIO(original)).convert("RGB").save(buffer, "JPEG", quality=90)
    return [original, buffer.getvalue()]


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_the_normalized_file_decodes_as_the_original(name: str) -> None:
    use_case = get_use_case(name)
    spec = use_case.raw_spec
    assert spec is not None
    decode = DECODERS[name]
    for value in use_case.base_data().test[spec.feature].head(4):
        for original in _variants(spec, base64.b64decode(value)):
            direct = decode(_b64(original))
            normalized = decode(_b64(normalize(spec, original)))
            assert normalized.shape == direct.shape
            # Audio: the 32-bit file rounds float32 samples below their precision; images: lossless.
            assert np.abs(normalized - direct).max() <= (1e-6 if isinstance(spec, AudioSpec) else 0.0)
