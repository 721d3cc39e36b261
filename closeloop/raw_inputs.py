"""Large raw inputs (a long recording, a big image) kept in MinIO, with a URI to them in the events.

Kafka refuses records of about a megabyte, and the streaming job keeps each
prediction's inputs in its state until the prediction is labeled: a large
raw input does not belong in either. The gateway writes each raw input
(a base64 string) longer than ``inline_bytes`` to the lake bucket as the
decoded file, ``<bucket>/<prefix>/<model>/<date>/<prediction id>/<input name>``,
and the prediction event carries ``s3://<bucket>/<key>`` in its place. The
retrain and the drift report read such inputs back with ``fetch``: the
lake's labeled examples hold the URI, the models see the base64 string.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from minio import Minio

from closeloop.config import Settings
from closeloop.errors import CloseloopError
from closeloop.events import PredictionEvent
from closeloop.s3 import read_object, s3_client

__all__ = ["SCHEME", "RawInputError", "RawInputStore", "is_uri"]

SCHEME = "s3://"


class RawInputError(CloseloopError):
    """A raw input could not be stored or read back."""


def is_uri(value: Any) -> bool:
    """Whether an input value is a URI to a stored raw input rather than the input itself."""
    return isinstance(value, str) and value.startswith(SCHEME)


class RawInputStore:
    """Writes large raw inputs to ``bucket`` under ``prefix``, and reads any stored one back."""

    def __init__(
        self, client: Minio, bucket: str, prefix: str = "raw", inline_bytes: int = 256 * 1024
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.inline_bytes = inline_bytes

    @classmethod
    def from_settings(
        cls, settings: Settings, *, inline_bytes: int = 256 * 1024, timeout_s: float | None = None
    ) -> RawInputStore:
        """The store of ``settings``' lake bucket and ``raw_prefix``."""
        client = s3_client(settings, timeout_s=timeout_s)
        return cls(client, settings.lake_bucket, settings.raw_prefix, inline_bytes=inline_bytes)

    def too_large(self, value: Any) -> bool:
        """Whether an input value is a raw input too long to travel in its event."""
        return isinstance(value, str) and len(value) > self.inline_bytes and not is_uri(value)

    def key(self, event: PredictionEvent, name: str) -> str:
        return f"{self.prefix}/{event.model_name}/{event.ts:%Y-%m-%d}/{event.prediction_id}/{name}"

    def offload(self, events: Sequence[PredictionEvent]) -> tuple[list[PredictionEvent], int]:
        """The events with each raw input over ``inline_bytes`` stored and replaced by its URI; how many.

        Only base64 strings are stored (as the files they encode): anything
        else stays inline. RawInputError if the store refuses a write; the
        events are then unchanged.
        """
        out, stored = [], 0
        for event in events:
            large = {name: value for name, value in event.inputs.items() if self.too_large(value)}
            uris = {}
            for name, value in large.items():
                try:
                    data = base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError):
                    continue
                key = self.key(event, name)
                try:
                    self.client.put_object(self.bucket, key, io.BytesIO(data), len(data))
                except Exception as exc:  # urllib3 and S3 errors alike: the caller decides
                    raise RawInputError(f"cannot store input {name!r} at {self.bucket}/{key}: {exc}") from exc
                uris[name] = f"{SCHEME}{self.bucket}/{key}"
            stored += len(uris)
            out.append(event.model_copy(update={"inputs": {**event.inputs, **uris}}) if uris else event)
        return out, stored

    def read(self, uri: str) -> bytes:
        """The file a URI points at; RawInputError if it is not a stored input's URI or cannot be read."""
        parsed = urlparse(uri)
        if parsed.scheme != SCHEME.removesuffix("://") or not parsed.netloc or not parsed.path.strip("/"):
            raise RawInputError(f"not a URI of a stored raw input: {uri!r:.200}")
        try:
            return read_object(self.client, parsed.netloc, parsed.path.lstrip("/"))
        except Exception as exc:  # an S3 error (no such key) or the store being away
            raise RawInputError(f"cannot read the raw input at {uri}: {exc}") from exc

    def fetch(self, uri: str) -> str:
        """The raw input a URI points at, as the base64 string the model takes; RawInputError if absent."""
        return base64.b64encode(self.read(uri)).decode("ascii")
