"""An utterance as the speech model hears it: decoded, mono, RATE Hz, and cut into short frames.

The one normalization of the use case: training, the gateway (through the
model) and the monitoring features all start from ``decode``; ``frame_levels``
and ``log_mel`` are the two views of the frames they use.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from closeloop.media.audio import decode_wav
from training.usecases.raw_inputs import b64_file
from training.usecases.speech.data import RATE

__all__ = [
    *("FRAME", "HOP", "MAX_SECONDS", "MAX_WAV_BYTES", "MEL_BANDS"),
    *("decode", "frame_levels", "log_mel", "noise_floor"),
]

#: The largest WAV accepted, decoded from base64: ten seconds at 16-bit 44.1 kHz stereo fit.
MAX_WAV_BYTES = 2 << 20
#: The longest utterance accepted: an utterance is a few words.
MAX_SECONDS = 10.0
#: Samples per analysis frame (25 ms) and between frames (10 ms).
FRAME, HOP = 200, 80
#: Mel bands of the spectrum the model reads.
MEL_BANDS = 24

# Frames quieter than this hold no sound at all: 16-bit audio's quantization noise is about -100 dB.
_SILENCE_DB = -90.0


def decode(wav_base64: str) -> np.ndarray:
    """The audio as float32 samples in [-1, 1], mono, at RATE Hz.

    ValueError saying what is wrong for anything that is not a PCM WAV file
    (8, 16 or 32-bit, any channel count and sample rate) in base64 of at most
    MAX_WAV_BYTES and MAX_SECONDS.
    """
    return decode_wav(b64_file(wav_base64, "audio", MAX_WAV_BYTES), rate=RATE, max_seconds=MAX_SECONDS)


def _frames(audio: np.ndarray) -> np.ndarray:
    """Overlapping frames of ``audio`` (one per HOP samples), zero-padded to at least one frame."""
    if audio.size < FRAME:
        audio = np.pad(audio, (0, FRAME - audio.size))
    return np.lib.stride_tricks.sliding_window_view(audio, FRAME)[::HOP]


def frame_levels(audio: np.ndarray) -> np.ndarray:
    """The loudness of each frame, in dB of full scale (RMS), floored at -100."""
    rms = np.sqrt(np.mean(np.square(_frames(audio), dtype=np.float64), axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-5))


def noise_floor(levels: np.ndarray) -> float:
    """The level of the background between words: the quietest tenth of the frames that hold any sound.

    Digital silence (a recording padded with zeros) is not the background:
    counted, it would put the floor at -100 dB and every pause above it.
    """
    sounding = levels[levels > _SILENCE_DB]
    return float(np.percentile(sounding if sounding.size else levels, 10))


@cache
def _mel_filters() -> np.ndarray:
    """Triangular filters (MEL_BANDS x FRAME // 2 + 1) over the FFT bins, evenly spaced in mels."""
    mel = np.linspace(0, 2595 * np.log10(1 + (RATE / 2) / 700), MEL_BANDS + 2)
    edges = 700 * (10 ** (mel / 2595) - 1)
    bins = np.fft.rfftfreq(FRAME, 1 / RATE)
    rising = (bins[None, :] - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None]
    falling = (edges[2:, None] - bins[None, :]) / (edges[2:] - edges[1:-1])[:, None]
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel(audio: np.ndarray) -> np.ndarray:
    """The log mel spectrogram of ``audio``: one row of MEL_BANDS per frame, in dB."""
    spectrum = np.abs(np.fft.rfft(_frames(audio) * np.hanning(FRAME), axis=1)) ** 2
    return 10 * np.log10(np.maximum(spectrum @ _mel_filters().T, 1e-10))
