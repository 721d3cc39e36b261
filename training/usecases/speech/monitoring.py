"""Numbers that describe how an utterance sounds, for drift: the recording, the loudness, the voice.

Each is computed from the decoded audio alone (no model, no transcript), so
the gateway can send them with every prediction and the streaming job can bin
them against the reference profile. Background noise raises the noise floor
and lowers the signal-to-noise ratio; a whispering voice has no pitch, so its
spectrum moves up and its zero crossings multiply.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.usecases.speech.audio import decode, frame_levels, log_mel, noise_floor
from training.usecases.speech.data import RATE

__all__ = ["MONITORING", "monitoring_frame", "utterance_features"]

#: The monitoring features, in this order.
MONITORING = [
    *("duration", "peak_db", "noise_floor_db", "snr_db"),
    *("centroid_hz", "zero_crossings", "speech_ratio"),
]


def utterance_features(audio: np.ndarray) -> dict[str, float]:
    """The monitoring features of one decoded utterance (``audio.decode``)."""
    levels = frame_levels(audio)
    floor, peak = noise_floor(levels), float(levels.max())
    speech = levels > (floor + peak) / 2
    # The spectrum's centre of mass over the frames with speech, from the mel bands' power.
    power = 10 ** (log_mel(audio)[speech] / 10)
    bands = np.linspace(0, RATE / 2, power.shape[1] + 2)[1:-1]
    centroid = float((power @ bands).sum() / power.sum()) if power.size else 0.0
    return {
        "duration": audio.size / RATE,
        "peak_db": peak,
        "noise_floor_db": floor,
        "snr_db": peak - floor,
        "centroid_hz": centroid,
        "zero_crossings": float(np.mean(np.diff(np.signbit(audio)))) if audio.size > 1 else 0.0,
        "speech_ratio": float(speech.mean()),
    }


def monitoring_frame(audio: pd.Series) -> pd.DataFrame:
    """The monitoring features of each base64 WAV, one row each, columns MONITORING."""
    rows = [utterance_features(decode(wav)) for wav in audio]
    return pd.DataFrame(rows, columns=MONITORING, index=audio.index, dtype=np.float64)
