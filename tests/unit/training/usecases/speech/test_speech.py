"""The speech use case: utterances made here, transcribed well when clean, badly when drifted, well again
when retrained."""

from __future__ import annotations

import base64
import io
import random
import wave
from typing import Any

import numpy as np
import pandas as pd
import pytest

from closeloop.errors import InputError
from closeloop.tasks import get_task
from training.usecases import TARGET, BaseData
from training.usecases.speech import SpeechUseCase
from training.usecases.speech.audio import MAX_SECONDS, MAX_WAV_BYTES, decode, frame_levels, noise_floor
from training.usecases.speech.data import FEATURES, RATE, STYLE, VOCABULARY, encode_wav, render_frame, speak
from training.usecases.speech.drift import DRIFT_KINDS, drift_frame
from training.usecases.speech.model import words
from training.usecases.speech.monitoring import MONITORING

# The clean target, and the retrained one: within the clean target, or 2x it.
CLEAN_WER = 0.1
DRIFTED_WER = 0.3


@pytest.fixture(scope="module")
def use_case() -> SpeechUseCase:
    return SpeechUseCase()


@pytest.fixture(scope="module")
def base(use_case: SpeechUseCase) -> BaseData:
    return use_case.base_data()


@pytest.fixture(scope="module")
def model(use_case: SpeechUseCase, base: BaseData) -> Any:
    return use_case.train(base.train, {})


def _wav(samples: np.ndarray, *, rate: int = RATE, width: int = 2, channels: int = 1) -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return base64.b64encode(buffer.getvalue()).decode()


def test_base_data_is_the_same_every_time_and_uses_the_vocabulary(
    use_case: SpeechUseCase, base: BaseData
) -> None:
    again = use_case.base_data()
    pd.testing.assert_frame_equal(base.train, again.train)
    assert (len(base.train), len(base.test)) == (1500, 400)
    assert list(base.train.columns) == [*FEATURES, TARGET]
    said = {word for text in base.train[TARGET] for word in text.split()}
    assert said == set(VOCABULARY)
    assert {len(text.split()) for text in base.train[TARGET]} == {1, 2, 3}


def test_decode_gives_mono_audio_at_the_model_rate_whatever_the_recording() -> None:
    tone = np.sin(np.arange(RATE) * 2 * np.pi * 440 / RATE)
    assert decode(_wav((tone * 16000).astype("<i2"))).shape == (RATE,)
    # CD quality stereo: resampled and mixed down, the same second of sound.
    cd = np.repeat((np.sin(np.arange(44100) * 2 * np.pi * 440 / 44100) * 16000).astype("<i2"), 2)
    audio = decode(_wav(cd, rate=44100, channels=2))
    assert audio.shape == (RATE,) and abs(np.abs(audio).max() - 16000 / 32768) < 0.02
    # 8-bit WAV is unsigned: silence is 128.
    assert np.abs(decode(_wav(np.full(800, 128, np.uint8), width=1))).max() == 0.0


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"RIFF not really a wave file").decode(), "not a PCM WAV"),
        (base64.b64encode(b"\0" * (MAX_WAV_BYTES + 1)).decode(), "at most"),
        (_wav(np.zeros(int(RATE * (MAX_SECONDS + 1)), "<i2")), "s long"),
        (_wav(np.zeros(300, np.uint8), width=3), "8, 16 or 32-bit"),
        (_wav(np.zeros(300, "<i2"), rate=1000), "sample rate"),
        (3, "must be a base64 string"),
    ],
)
def test_decode_says_what_is_wrong_with_bad_audio(value: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        decode(value)


def test_clean_speech_is_transcribed_within_the_target(
    use_case: SpeechUseCase, base: BaseData, model: Any
) -> None:
    metrics = use_case.evaluate(model, base.test)
    assert metrics["wer"] <= CLEAN_WER, metrics
    # The metrics are the task plug-in's on the model's own outputs.
    outputs = use_case.predict(model, base.test)
    assert metrics == get_task("speech_to_text").metrics(outputs, list(base.test[TARGET]))
    assert all(isinstance(o, str) for o in outputs)


@pytest.mark.parametrize("kind", DRIFT_KINDS)
def test_each_drift_costs_quality_and_a_retrain_on_drifted_speech_wins_it_back(
    use_case: SpeechUseCase, base: BaseData, model: Any, kind: str
) -> None:
    drifted_test = drift_frame(base.test, kind, 1.0, seed=1)
    assert use_case.evaluate(model, drifted_test)["wer"] > DRIFTED_WER
    feedback = drift_frame(base.train.iloc[:600], kind, 1.0, seed=2)
    retrained = use_case.train(pd.concat([base.train, feedback], ignore_index=True), {})
    assert use_case.evaluate(retrained, drifted_test)["wer"] <= CLEAN_WER
    assert use_case.evaluate(retrained, base.test)["wer"] <= CLEAN_WER


def test_drift_keeps_the_transcripts_and_is_reproducible(use_case: SpeechUseCase, base: BaseData) -> None:
    rows = base.test.iloc[:40]
    first, second = drift_frame(rows, "voice", 0.5, seed=3), drift_frame(rows, "voice", 0.5, seed=3)
    pd.testing.assert_frame_equal(first, second)
    assert list(first[TARGET]) == list(rows[TARGET])
    # Half the utterances whispered: the spectrum's centre, on average, half way up.
    centroids = [
        use_case.monitoring(frame)["centroid_hz"].mean()
        for frame in (rows, first, drift_frame(rows, "voice", 1.0, seed=3))
    ]
    assert centroids[0] < centroids[1] < centroids[2]
    pd.testing.assert_frame_equal(drift_frame(rows, "noise", 0.0), rows)
    with pytest.raises(ValueError, match="known kinds: voice, noise"):
        drift_frame(rows, "echo")
    with pytest.raises(ValueError, match=">= 0"):
        drift_frame(rows, "noise", -1)
    with pytest.raises(ValueError, match="says each transcript again"):
        drift_frame(rows[FEATURES], "noise")


def test_monitoring_numbers_move_with_each_drift(use_case: SpeechUseCase, base: BaseData) -> None:
    rows = base.test.iloc[:100]
    clean = use_case.monitoring(rows)
    assert list(clean.columns) == MONITORING
    assert np.isfinite(clean.to_numpy()).all()
    noisy = use_case.monitoring(drift_frame(rows, "noise", 1.0))
    whispered = use_case.monitoring(drift_frame(rows, "voice", 1.0))
    assert noisy["snr_db"].mean() < clean["snr_db"].mean() - 15
    assert noisy["noise_floor_db"].mean() > clean["noise_floor_db"].mean() + 15
    assert whispered["centroid_hz"].mean() > 1.5 * clean["centroid_hz"].mean()
    assert whispered["zero_crossings"].mean() > clean["zero_crossings"].mean()


def test_duration_and_level_show_in_their_numbers() -> None:
    texts = ["one", "one two three"]
    loud = SpeechUseCase().monitoring(render_frame(texts, STYLE.but(levels=(0.5, 0.5), noise=0.0)))
    quiet = SpeechUseCase().monitoring(render_frame(texts, STYLE.but(levels=(0.1, 0.1), noise=0.0)))
    assert loud["duration"][1] > 2 * loud["duration"][0]
    # Five times quieter is 14 dB down.
    assert np.allclose(loud["peak_db"] - quiet["peak_db"], 20 * np.log10(5), atol=0.5)


def test_words_are_cut_where_the_pauses_are() -> None:
    rng = random.Random(4)
    for text in ["go", "stop left", "three eight six"]:
        audio = speak(text, STYLE, rng)
        assert len(words(frame_levels(audio), 0.3)) == len(text.split()), text
        # Padded with digital silence, as a recorder or an editor leaves it: the pauses are still pauses.
        padded = np.pad(audio, (0, 5 * RATE))
        assert noise_floor(frame_levels(padded)) == pytest.approx(noise_floor(frame_levels(audio)), abs=1)
        assert len(words(frame_levels(padded), 0.3)) == len(text.split()), text


def test_the_reference_profile_bins_the_monitoring_numbers_not_the_text(
    use_case: SpeechUseCase, base: BaseData, model: Any
) -> None:
    profile = use_case.reference_profile(model, base.test, "7")
    assert list(profile.features) == MONITORING
    assert profile.output is None
    assert profile.rows == len(base.test)


def test_silence_transcribes_as_nothing(model: Any) -> None:
    assert model.predict([encode_wav(np.zeros(RATE, np.float32))]) == [""]


def test_the_model_monitors_what_the_use_case_profiles(
    use_case: SpeechUseCase, base: BaseData, model: Any
) -> None:
    rows = base.test.iloc[:5]
    pd.testing.assert_frame_equal(
        model.monitor(rows[FEATURES]), use_case.monitoring(rows).reset_index(drop=True)
    )


def test_audio_that_does_not_decode_is_the_inputs_fault_by_its_index(base: BaseData, model: Any) -> None:
    audio = [base.test[FEATURES[0]].iloc[0], "not base64!"]
    with pytest.raises(InputError) as caught:
        model.predict(audio)
    assert caught.value.field == "1.audio_wav" and "base64" in caught.value.reason
    with pytest.raises(InputError, match=r"^1\.audio_wav"):
        model.monitor(pd.DataFrame({FEATURES[0]: audio}))


def test_a_missing_espeak_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from training.usecases.speech import data

    monkeypatch.setattr(data.shutil, "which", lambda _: None)
    data.say.cache_clear()
    with pytest.raises(FileNotFoundError, match="make setup"):
        data.say("zero", "en-us+m1", 140, 40)
