"""What the use cases of raw inputs (OCR, speech, shapes) share: reading a base64 input, naming the one
that does not decode, and checking a drift's arguments.

Numpy and pandas only: every DAG file imports the use cases.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pandas as pd

from closeloop.errors import InputError
from training.usecases.base import TARGET

__all__ = ["b64_file", "check_drift", "column", "decode_each"]

Decoded = TypeVar("Decoded")


def b64_file(value: Any, what: str, max_bytes: int) -> bytes:
    """The file a base64 input encodes; ValueError saying what is wrong (``what``: "image", "audio")."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a base64 string, got {type(value).__name__}")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} is not valid base64: {exc}") from None
    if len(raw) > max_bytes:
        raise ValueError(f"{what} is {len(raw):,} bytes; at most {max_bytes:,} are accepted")
    return raw


def column(data: Any, feature: str) -> list[Any]:
    """The values of input ``feature``: a frame's column of that name (or its first), a column, or a list."""
    if isinstance(data, pd.DataFrame):
        data = data[feature] if feature in data else data.iloc[:, 0]
    return list(data)


def decode_each(data: Any, feature: str, decode: Callable[[Any], Decoded]) -> list[Decoded]:
    """Each input of ``feature`` decoded; InputError naming the first that does not, by its index."""
    decoded = []
    for index, value in enumerate(column(data, feature)):
        try:
            decoded.append(decode(value))
        except ValueError as exc:
            raise InputError(f"{index}.{feature}", str(exc)) from None
    return decoded


def check_drift(frame: pd.DataFrame, kind: str, kinds: Sequence[str], severity: float, redraws: str) -> None:
    """ValueError for a kind not in ``kinds``, a negative or non-finite severity, or a frame without
    ``TARGET``, from which the drift makes each input again (``redraws``: what it makes, for the error)."""
    if kind not in kinds:
        raise ValueError(f"unknown drift kind {kind!r}; known kinds: {', '.join(kinds)}")
    if not 0 <= severity < math.inf:  # NaN fails both comparisons
        raise ValueError(f"drift severity must be a finite number >= 0, got {severity!r}")
    if TARGET not in frame.columns:
        raise ValueError(f"frame lacks the column {TARGET!r}: a drift {redraws} from it")
