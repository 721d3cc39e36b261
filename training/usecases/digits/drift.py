"""Drift for 8x8 digit images: thicker strokes, tilted or shifted scans, sensor noise, faded ink.

Rows are images as 64 values in [0, 16], row-major (``pixel_{8·row + column}``,
row 0 at the top), the digits use case's features. ``severity`` scales the
drift; 0 leaves the rows as they are, and 1.0 is a drift that costs the
default digits model most of its accuracy while a model retrained on
drifted examples recovers. Accuracy on the base test set (default model,
clean: 0.973), drifted at 1.0, then after retraining on the clean plus the
drifted base train rows:

- thickness: strokes one pixel thicker each way (a plus-shaped grey
  dilation per unit); 0.38, retrained 0.94;
- rotation: tilted 20° counter-clockwise per unit; 0.44, retrained 0.96;
- noise: Gaussian, standard deviation 3 per unit; 0.60, retrained 0.91;
- shift: one pixel down and one right per unit; 0.13, retrained 0.92;
- contrast: ink at 1 / (1 + 2·severity) of its intensity; 0.46, retrained 0.98.

The drifts are systematic (every image is tilted by the same angle, not by a
random one), as when a scanner or a pen changes: that is what a retrain can
learn. Only "noise" draws random numbers, from ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import ndimage

from training.usecases.digits.data import FEATURES

__all__ = ["DRIFT_KINDS", "MAX_VALUE", "apply_drift", "drift_frame"]

#: The largest pixel value; drifted values are clipped to [0, MAX_VALUE].
MAX_VALUE = 16.0

_SIDE = 8
_PLUS = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], dtype=bool)  # over (image, row, column)
_DEGREES = 20.0  # rotation per unit of severity
_NOISE_STD = 3.0  # noise standard deviation per unit of severity, in pixel units


def _thickness(images: np.ndarray, severity: float, rng: np.random.Generator) -> np.ndarray:
    # One whole dilation per unit of severity; a fraction blends in part of the next: severity is continuous.
    whole, fraction = divmod(severity, 1.0)
    for _ in range(int(whole)):
        images = ndimage.grey_dilation(images, footprint=_PLUS, mode="constant", cval=0.0)
    if fraction:
        dilated = ndimage.grey_dilation(images, footprint=_PLUS, mode="constant", cval=0.0)
        images = images + fraction * (dilated - images)
    return images


def _rotation(images: np.ndarray, severity: float, rng: np.random.Generator) -> np.ndarray:
    # axes=(2, 1) turns a positive angle counter-clockwise as the image is displayed (row 0 on top).
    return ndimage.rotate(images, _DEGREES * severity, axes=(2, 1), reshape=False, order=1, mode="constant")


def _noise(images: np.ndarray, severity: float, rng: np.random.Generator) -> np.ndarray:
    return images + rng.normal(0.0, _NOISE_STD * severity, size=images.shape)


def _shift(images: np.ndarray, severity: float, rng: np.random.Generator) -> np.ndarray:
    # Fractions of a pixel interpolate linearly; what leaves the frame is lost, what enters is blank.
    return ndimage.shift(images, (0.0, severity, severity), order=1, mode="constant")


def _contrast(images: np.ndarray, severity: float, rng: np.random.Generator) -> np.ndarray:
    # The background is 0, so scaling fades the ink towards it; 1 / (1 + 2s) never reaches 0 or goes negative.
    return images / (1.0 + 2.0 * severity)


_DRIFTS: dict[str, Callable[[np.ndarray, float, np.random.Generator], np.ndarray]] = {
    "thickness": _thickness,
    "rotation": _rotation,
    "noise": _noise,
    "shift": _shift,
    "contrast": _contrast,
}

#: The kinds of drift ``apply_drift`` knows.
DRIFT_KINDS: tuple[str, ...] = tuple(_DRIFTS)


def apply_drift(rows: np.ndarray, kind: str, severity: float = 1.0, seed: int = 0) -> np.ndarray:
    """``rows`` (n x 64, or one row of 64) drifted by ``kind``: new float rows of the same shape in [0, 16].

    The same rows, kind, severity and seed always give the same result;
    severity 0 gives the rows unchanged. ValueError for an unknown kind, a
    negative or non-finite severity, or rows that are not 64 values wide.
    """
    if kind not in _DRIFTS:
        raise ValueError(f"unknown drift kind {kind!r}; known kinds: {', '.join(DRIFT_KINDS)}")
    if not np.isfinite(severity) or severity < 0:
        raise ValueError(f"drift severity must be a finite number >= 0, got {severity!r}")
    values = np.array(rows, dtype=np.float64)  # a copy: the caller's rows are never changed
    if values.ndim not in (1, 2) or values.shape[-1] != _SIDE * _SIDE:
        raise ValueError(
            f"rows must be 64 pixel values each (shape (n, 64) or (64,)), got shape {values.shape}"
        )
    if severity == 0 or values.size == 0:
        return values
    images = values.reshape(-1, _SIDE, _SIDE)
    drifted = _DRIFTS[kind](images, float(severity), np.random.default_rng(seed))
    return np.clip(drifted, 0.0, MAX_VALUE).reshape(values.shape)


def drift_frame(frame: pd.DataFrame, kind: str, severity: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """A copy of ``frame`` with its pixel columns (``pixel_0``..``pixel_63``) drifted; other columns kept."""
    missing = [name for name in FEATURES if name not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks pixel columns {missing[:5]}{'…' if len(missing) > 5 else ''}")
    drifted = apply_drift(frame[FEATURES].to_numpy(dtype=np.float64), kind, severity, seed)
    return frame.assign(**dict(zip(FEATURES, drifted.T, strict=True)))
