"""Raw inputs decoded: WAV files of any common format to mono at the model's rate; PNG and JPEG to grey;
anything else refused with what is wrong."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
from PIL import Image

from closeloop.media.audio import decode_wav, encode_wav
from closeloop.media.image import decode_image
from closeloop.media.normalize import AudioSpec, ImageSpec, normalize

RATE = 8000


def _tone(rate: int, seconds: float = 0.5, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _wav(samples: np.ndarray, rate: int, *, width: int = 2) -> bytes:
    """``samples`` (frames by channels, floats) as a PCM WAV of ``width`` bytes a sample."""
    if width == 1:
        data = np.clip(samples * 128 + 128, 0, 255).astype(np.uint8)
    else:
        data = (np.clip(samples, -1, 1) * (2 ** (8 * width - 1) - 1)).astype(f"<i{width}")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(data.tobytes())
    return buffer.getvalue()


def test_a_round_trip_at_the_models_rate_keeps_the_samples() -> None:
    tone = _tone(RATE)
    decoded = decode_wav(encode_wav(tone, RATE), rate=RATE, max_seconds=10)
    assert decoded.dtype == np.float32 and decoded.shape == tone.shape
    assert np.abs(decoded - tone).max() < 1e-4


@pytest.mark.parametrize(("rate", "channels", "width"), [(44100, 2, 2), (16000, 1, 4), (22050, 1, 1)])
def test_any_common_format_becomes_mono_at_the_models_rate(rate: int, channels: int, width: int) -> None:
    tone = _tone(rate)
    decoded = decode_wav(
        _wav(np.repeat(tone[:, None], channels, axis=1), rate, width=width), rate=RATE, max_seconds=10
    )
    assert abs(decoded.size - RATE // 2) <= 1
    expected = _tone(RATE)[: decoded.size]
    # The same tone, apart from the edges of the resampling filter and 8-bit quantization.
    assert np.abs(decoded[100:-100] - expected[100:-100]).max() < 0.03


def test_what_is_not_a_usable_wav_is_refused_with_the_reason() -> None:
    good = encode_wav(_tone(RATE), RATE)
    with pytest.raises(ValueError, match="not a PCM WAV file"):
        decode_wav(good[:30], rate=RATE, max_seconds=10)
    with pytest.raises(ValueError, match="sample rate must be 4000-96000 Hz, got 2000"):
        decode_wav(_wav(_tone(2000)[:, None], 2000), rate=RATE, max_seconds=10)
    with pytest.raises(ValueError, match=r"0\.5 s long; at most 0\.25 s"):
        decode_wav(good, rate=RATE, max_seconds=0.25)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_png_and_jpeg_decode_to_grey(fmt: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (30, 12), (200, 40, 40)).save(buffer, fmt)
    image = decode_image(buffer.getvalue())
    assert image.mode == "L" and image.size == (30, 12)


def test_other_images_and_oversized_ones_are_refused() -> None:
    gif = io.BytesIO()
    Image.new("L", (4, 4)).save(gif, "GIF")
    with pytest.raises(ValueError, match="must be a PNG or JPEG, got GIF"):
        decode_image(gif.getvalue())
    with pytest.raises(ValueError, match="cannot be decoded"):
        decode_image(b"\x89PNG\r\n\x1a\n truncated")
    png = io.BytesIO()
    Image.new("L", (300, 20)).save(png, "PNG")
    with pytest.raises(ValueError, match="300 x 20 pixels; at most 256 a side"):
        decode_image(png.getvalue(), max_side=256)


def test_a_16_bit_file_is_what_clients_send_and_32_bit_keeps_float32_samples() -> None:
    tone = _tone(RATE)
    for width, tolerance in ((2, 2 / 32767), (4, 1e-7)):
        file = encode_wav(tone, RATE, width=width)
        with wave.open(io.BytesIO(file)) as wav:
            assert (wav.getsampwidth(), wav.getnchannels(), wav.getframerate()) == (width, 1, RATE)
        assert np.abs(decode_wav(file, rate=RATE, max_seconds=10) - tone).max() <= tolerance
    full = encode_wav(np.array([1.0, -1.0, 2.0], dtype=np.float32), RATE, width=4)
    assert decode_wav(full, rate=RATE, max_seconds=10).tolist() == pytest.approx([1.0, -1.0, 1.0], abs=1e-9)


def test_normalizing_hands_the_model_the_samples_and_pixels_of_the_original() -> None:
    speech = AudioSpec(feature="audio_wav", rate=RATE, max_seconds=10, max_bytes=1 << 20)
    cd = _wav(np.repeat(_tone(44100)[:, None], 2, axis=1), 44100)
    normalized = normalize(speech, cd)
    with wave.open(io.BytesIO(normalized)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (1, RATE, 4)
    direct = decode_wav(cd, rate=RATE, max_seconds=10)
    assert np.abs(decode_wav(normalized, rate=RATE, max_seconds=10) - direct).max() < 1e-7

    image = ImageSpec(feature="image_png", max_bytes=1 << 20, max_side=64)
    jpeg = io.BytesIO()
    Image.effect_noise((40, 20), 60).convert("RGB").save(jpeg, "JPEG")
    png = normalize(image, jpeg.getvalue())
    assert png.startswith(b"\x89PNG")
    assert np.array_equal(np.asarray(decode_image(png)), np.asarray(decode_image(jpeg.getvalue())))


def test_normalizing_refuses_what_the_spec_does_not_accept() -> None:
    speech = AudioSpec(feature="audio_wav", rate=RATE, max_seconds=10, max_bytes=100)
    with pytest.raises(ValueError, match="audio is empty"):
        normalize(speech, b"")
    with pytest.raises(ValueError, match="audio is 8,044 bytes; at most 100"):
        normalize(speech, encode_wav(_tone(RATE), RATE))
    with pytest.raises(ValueError, match="image must be a PNG or JPEG"):
        gif = io.BytesIO()
        Image.new("L", (4, 4)).save(gif, "GIF")
        normalize(ImageSpec(feature="image_png", max_bytes=1 << 20), gif.getvalue())


def test_frames_by_channels_make_a_file_of_as_many_channels() -> None:
    left, right = _tone(RATE), _tone(RATE, hz=660.0)
    file = encode_wav(np.stack([left, right], axis=1), RATE)
    with wave.open(io.BytesIO(file)) as wav:
        assert (wav.getnchannels(), wav.getnframes()) == (2, left.size)
    assert np.abs(decode_wav(file, rate=RATE, max_seconds=10) - (left + right) / 2).max() <= 2 / 32767
