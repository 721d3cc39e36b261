"""The speech base data: short spoken commands and numbers, synthesized here with espeak-ng.

Nothing is downloaded: each word is spoken by Debian's espeak-ng (installed by
``make setup``) in one of a few voices, rates and pitches, resampled to
RATE Hz, and words are joined with short pauses into utterances of one to
three words. A ``Style`` (voices, loudness, pauses, background noise) says
all there is about how an utterance sounds, so a drift is a change of style
(``drift``).
"""

from __future__ import annotations

import base64
import random
import shutil
import subprocess
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
import pandas as pd

from closeloop.media.audio import encode_wav as wav_file
from training.usecases.base import TARGET, BaseData

__all__ = [
    "FEATURES",
    "RATE",
    "STYLE",
    "VOCABULARY",
    "Style",
    "encode_wav",
    "load_base_data",
    "render_frame",
    "say",
    "speak",
    "transcripts",
]

#: The model's one input: the utterance, a WAV file in base64.
FEATURES = ["audio_wav"]
#: Samples per second of the audio the model hears (telephone quality keeps events small).
RATE = 8000
#: The words utterances are made of: digits and commands, as in keyword-spotting data sets.
VOCABULARY = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    *("yes", "no", "stop", "go", "left", "right", "up", "down", "on", "off"),
)

_TRAIN_UTTERANCES, _TEST_UTTERANCES = 1500, 400
_SEED = 0
_ESPEAK_RATE = 22050


@dataclass(frozen=True)
class Style:
    """How an utterance is spoken and recorded."""

    #: espeak-ng voices (language + variant), one drawn per utterance.
    voices: tuple[str, ...] = ("en-us+m1", "en-us+m3", "en-us+f1", "en-us+f3")
    #: Speaking rates, words per minute, one drawn per word.
    rates: tuple[int, ...] = (140, 175)
    #: Pitches (espeak-ng's 0-99), one drawn per word.
    pitches: tuple[int, ...] = (40, 60)
    #: Seconds of pause between words, drawn uniformly.
    pauses: tuple[float, float] = (0.15, 0.35)
    #: Peak level of the speech (1.0 is full scale), drawn uniformly per utterance.
    levels: tuple[float, float] = (0.3, 0.9)
    #: Standard deviation of the background noise, as a fraction of full scale.
    noise: float = 0.002

    def but(self, **changes: object) -> Style:
        return replace(self, **changes)  # type: ignore[arg-type]


#: The style of the base data, and of live traffic until something drifts.
STYLE = Style()


def _espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise FileNotFoundError("espeak-ng is not installed: `make setup` installs it (apt, espeak-ng)")
    return path


@cache
def say(word: str, voice: str, rate: int, pitch: int) -> np.ndarray:
    """``word`` spoken by espeak-ng, as float32 samples at RATE Hz, leading and trailing silence cut."""
    from scipy.signal import resample_poly  # scipy: not when a DAG file imports the use case

    wav = subprocess.run(
        [_espeak(), "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout", word],
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout
    # espeak-ng streams its WAV to stdout, so the header's length is unset: the samples follow the
    # 44-byte header.
    samples = np.frombuffer(wav[44 : 44 + (len(wav) - 44) // 2 * 2], dtype="<i2").astype(np.float32) / 32768
    audio = resample_poly(samples, RATE, _ESPEAK_RATE).astype(np.float32)
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return audio[loud[0] : loud[-1] + 1] if loud.size else audio


def speak(text: str, style: Style, rng: random.Random) -> np.ndarray:
    """``text`` (words of VOCABULARY) spoken in ``style``: float32 samples at RATE Hz."""
    voice = rng.choice(style.voices)
    parts = [np.zeros(int(RATE * 0.1), np.float32)]
    for index, word in enumerate(text.split()):
        if index:
            parts.append(np.zeros(int(RATE * rng.uniform(*style.pauses)), np.float32))
        parts.append(say(word, voice, rng.choice(style.rates), rng.choice(style.pitches)))
    parts.append(np.zeros(int(RATE * 0.1), np.float32))
    audio = np.concatenate(parts)
    audio *= rng.uniform(*style.levels) / max(float(np.abs(audio).max()), 1e-6)
    if style.noise:
        audio += np.random.default_rng(rng.getrandbits(32)).normal(0.0, style.noise, audio.size)
    return audio.astype(np.float32)


def encode_wav(audio: np.ndarray) -> str:
    """Samples at RATE Hz as a 16-bit mono WAV file in base64: what a client sends the gateway."""
    return base64.b64encode(wav_file(audio, RATE)).decode("ascii")


def transcripts(count: int, rng: random.Random) -> list[str]:
    """``count`` utterances of one to three words: commands ("go left") and numbers ("three nine")."""
    return [" ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(1, 3))) for _ in range(count)]


def render_frame(texts: list[str], style: Style = STYLE, seed: int = 0) -> pd.DataFrame:
    """One row per transcript: its audio (``audio_wav``) in ``style`` and the transcript (``TARGET``)."""
    rng = random.Random(seed)
    audio = [encode_wav(speak(text, style, rng)) for text in texts]
    return pd.DataFrame({FEATURES[0]: audio, TARGET: texts})


@cache
def _base_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = random.Random(_SEED)
    texts = transcripts(_TRAIN_UTTERANCES + _TEST_UTTERANCES, rng)
    frame = render_frame(texts, STYLE, seed=_SEED)
    return frame.iloc[:_TRAIN_UTTERANCES].reset_index(drop=True), frame.iloc[_TRAIN_UTTERANCES:].reset_index(
        drop=True
    )


def load_base_data() -> BaseData:
    """1,500 training and 400 test utterances in the base style, the same every time (copies)."""
    train, test = _base_frames()
    return BaseData(train=train.copy(), test=test.copy())
