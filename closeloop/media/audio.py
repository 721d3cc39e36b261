"""Recordings: a PCM WAV file of any common format to mono float samples at the rate a model hears."""

from __future__ import annotations

import io
import wave

import numpy as np

__all__ = ["decode_wav", "encode_wav"]

_SAMPLE_TYPES = {1: np.uint8, 2: np.dtype("<i2"), 4: np.dtype("<i4")}
_RATES = (4000, 96000)


def decode_wav(raw: bytes, *, rate: int, max_seconds: float) -> np.ndarray:
    """The audio as float32 samples in [-1, 1], mono (the channels' mean), resampled to ``rate`` Hz.

    ValueError saying what is wrong for anything that is not a PCM WAV file
    (8, 16 or 32-bit, any channel count, 4-96 kHz) of at most ``max_seconds``.
    """
    try:
        with wave.open(io.BytesIO(raw), "rb") as wav:
            channels, width, source_rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            data = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"audio is not a PCM WAV file: {exc}") from None
    if width not in _SAMPLE_TYPES:
        raise ValueError(f"audio must have 8, 16 or 32-bit samples, got {8 * width}-bit")
    if not _RATES[0] <= source_rate <= _RATES[1]:
        raise ValueError(f"audio sample rate must be {_RATES[0]}-{_RATES[1]} Hz, got {source_rate}")
    frame_bytes = width * channels
    samples = np.frombuffer(data[: len(data) // frame_bytes * frame_bytes], _SAMPLE_TYPES[width])
    if samples.size // channels > max_seconds * source_rate:
        seconds = samples.size / channels / source_rate
        raise ValueError(f"audio is {seconds:.1f} s long; at most {max_seconds:g} s")
    if width == 1:  # 8-bit WAV is unsigned
        audio = (samples.astype(np.float32) - 128) / 128
    else:
        audio = samples.astype(np.float32) / float(2 ** (8 * width - 1))
    audio = audio.reshape(-1, channels).mean(axis=1)
    if source_rate != rate:
        from scipy.signal import resample_poly  # only for audio not recorded at the model's rate

        gcd = np.gcd(source_rate, rate)
        audio = resample_poly(audio, rate // gcd, source_rate // gcd).astype(np.float32)
    return audio


def encode_wav(audio: np.ndarray, rate: int, *, width: int = 2) -> bytes:
    """Float samples in [-1, 1] as a PCM WAV file (clipped) of ``width`` bytes a sample: 2 (16-bit,
    what clients send) or 4 (32-bit, which keeps float32 samples as they are). Mono for samples in
    one dimension; a channel per column for frames by channels."""
    if width not in (2, 4):
        raise ValueError(f"width must be 2 or 4 bytes, got {width}")
    full_scale = 2 ** (8 * width - 1) - 1
    # 32-bit in float64: float32 cannot hold 2**31 - 1, and would wrap a full-scale sample around.
    clipped = np.clip(audio if width == 2 else audio.astype(np.float64), -1.0, 1.0)
    samples = (clipped * full_scale).astype(f"<i{width}")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1 if audio.ndim == 1 else audio.shape[1])
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()
