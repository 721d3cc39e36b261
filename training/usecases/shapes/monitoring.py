"""Numbers that describe how a scene image looks, for drift: the paper, the ink, the marks on it.

Each is computed from the decoded image alone (no model, no boxes) and with
numpy alone (the gateway computes them with every prediction), so the
streaming job can bin them against the reference profile. Faint objects on
uneven paper lower the contrast and raise the unevenness and the light ink;
clutter raises the light ink and the edges.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.usecases.shapes.image import decode, ink

__all__ = ["MONITORING", "monitoring_frame", "scene_features"]

#: The monitoring features, in this order.
MONITORING = ["contrast", "noise", "ink_ratio", "light_ink_ratio", "edge_density", "unevenness"]

# Ink darker than this below the paper is dark ink (the objects); lighter, down to _LIGHT, light ink.
_DARK, _LIGHT = 0.3, 0.05
# A step between neighbouring pixels this large is an edge: well above the noise, below faint ink.
_EDGE = 0.04
# The paper's unevenness is measured on tiles of this many pixels a side.
_TILE = 16
# The median of |a - b| of two independent normal values is this many of their standard deviation.
_MEDIAN_ABS_DIFF = 0.6745 * np.sqrt(2)


def scene_features(grey: np.ndarray) -> dict[str, float]:
    """The monitoring features of one decoded scene (``image.decode``)."""
    amount = ink(grey)
    # Steps between horizontal neighbours: on the paper they are noise, at a mark an edge.
    steps = np.abs(np.diff(grey, axis=1))
    # The lightest tenth of each tile is its paper, even with an object on it.
    height, width = (max(_TILE, n - n % _TILE) for n in grey.shape)
    tiles = grey[:height, :width]
    if tiles.shape == (height, width):
        tiles = tiles.reshape(height // _TILE, _TILE, width // _TILE, _TILE).swapaxes(1, 2)
        papers = np.percentile(tiles.reshape(-1, _TILE * _TILE), 90, axis=1)
    else:  # smaller than a tile: one tile
        papers = np.percentile(grey, 90, keepdims=True)
    return {
        "contrast": float(np.median(grey) - grey.min()),
        "noise": float(np.median(steps)) / _MEDIAN_ABS_DIFF if steps.size else 0.0,
        "ink_ratio": float((amount > _DARK).mean()),
        "light_ink_ratio": float(((amount > _LIGHT) & (amount <= _DARK)).mean()),
        "edge_density": float((steps > _EDGE).mean()) if steps.size else 0.0,
        "unevenness": float(np.ptp(papers)),
    }


def monitoring_frame(images: pd.Series) -> pd.DataFrame:
    """The monitoring features of each base64 image, one row each, columns MONITORING."""
    rows = [scene_features(decode(image)) for image in images]
    return pd.DataFrame(rows, columns=MONITORING, index=images.index, dtype=np.float64)
