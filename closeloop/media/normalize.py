"""What a use case's model takes as a raw input, as data, and a raw file normalized to it.

A use case of raw inputs declares a spec (``UseCase.raw_spec``); the
preprocessing of raw events reads the specs from a generated file, since it
runs where the use cases are not installed. ``normalize`` turns any file
the spec accepts into the one format the model reads, without changing
what the model sees: the model's own decoding of the normalized file gives
the samples or pixels its decoding of the original gives, so a request
that came through Kafka is answered as the same file sent over HTTP.

So it converts formats only (channels, rate, sample width; colour, image
format). Trimming silence or normalizing loudness would change what the
model hears: they belong here only once the model's decoding does them too.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, TypeAdapter

from closeloop.media.audio import decode_wav, encode_wav
from closeloop.media.image import decode_image

__all__ = ["AudioSpec", "ImageSpec", "RawInput", "RawSpec", "load_raw_inputs", "normalize"]


class AudioSpec(BaseModel):
    """A recording, heard mono at ``rate`` Hz."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    media: Literal["audio"] = "audio"
    #: The model's input that takes the file (base64).
    feature: str
    rate: PositiveInt
    max_seconds: PositiveFloat
    #: The largest file accepted, as sent.
    max_bytes: PositiveInt


class ImageSpec(BaseModel):
    """An image, seen greyscale."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    media: Literal["image"] = "image"
    feature: str
    max_bytes: PositiveInt
    #: The largest side accepted, in pixels; None: the decoder's own limit.
    max_side: PositiveInt | None = None


RawSpec = Annotated[AudioSpec | ImageSpec, Field(discriminator="media")]


class RawInput(BaseModel):
    """One use case's entry in the generated file: the model its requests name, and its spec."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str
    spec: RawSpec


def load_raw_inputs(path: Path) -> dict[str, RawInput]:
    """The generated file of raw-input specs (training.usecases.raw_specs), by use case name."""
    return TypeAdapter(dict[str, RawInput]).validate_json(path.read_bytes())


def normalize(spec: AudioSpec | ImageSpec, raw: bytes) -> bytes:
    """``raw`` as the file the model reads best: a mono 32-bit PCM WAV at the spec's rate, or a
    greyscale PNG. ValueError saying what is wrong with a file the spec does not accept."""
    if not raw:
        raise ValueError(f"{spec.media} is empty")
    if len(raw) > spec.max_bytes:
        raise ValueError(f"{spec.media} is {len(raw):,} bytes; at most {spec.max_bytes:,} are accepted")
    if isinstance(spec, AudioSpec):
        # 32-bit samples: the model decodes them to the float32 samples decoding the original
        # gives (16-bit would round them off).
        return encode_wav(decode_wav(raw, rate=spec.rate, max_seconds=spec.max_seconds), spec.rate, width=4)
    buffer = io.BytesIO()
    decode_image(raw, max_side=spec.max_side).save(buffer, "PNG")  # lossless: the same pixels
    return buffer.getvalue()
