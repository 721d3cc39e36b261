"""Numbers that describe how a line image looks, for drift: the scan, the ink, the print.

Each is computed from the decoded image alone (no model, no text), so the
gateway can send them with every prediction and the streaming job can bin
them against the reference profile. A new font moves the stroke width and
the glyph widths; a blurred scan moves the sharpness and the ink ratio.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.usecases.ocr.image import decode, ink

__all__ = ["MONITORING", "line_features", "monitoring_frame"]

#: The monitoring features, in this order.
MONITORING = ["contrast", "noise", "ink_ratio", "sharpness", "stroke_width", "aspect"]


def line_features(grey: np.ndarray) -> dict[str, float]:
    """The monitoring features of one decoded line (``image.decode``)."""
    paper = float(np.median(grey))
    amount = ink(grey)
    inked = amount > 0.5
    background = grey[amount < 0.1]
    # Horizontal runs of ink: their mean length is the stroke width, in line heights.
    row_starts = np.count_nonzero(np.diff(inked.astype(np.int8), axis=1) == 1) + np.count_nonzero(inked[:, 0])
    # A sharp edge goes from paper to ink in a pixel or two: the steepest steps are near 1.
    steps = np.abs(np.diff(amount, axis=1))
    edges = steps[steps > 0.05]
    return {
        "contrast": paper - float(grey.min()),
        "noise": float(background.std()) if background.size > 1 else 0.0,
        "ink_ratio": float(inked.mean()),
        "sharpness": float(np.percentile(edges, 90)) if edges.size else 0.0,
        "stroke_width": float(inked.sum()) / row_starts / grey.shape[0] if row_starts else 0.0,
        "aspect": grey.shape[1] / grey.shape[0],
    }


def monitoring_frame(images: pd.Series) -> pd.DataFrame:
    """The monitoring features of each base64 image, one row each, columns MONITORING."""
    rows = [line_features(decode(image)) for image in images]
    return pd.DataFrame(rows, columns=MONITORING, index=images.index, dtype=np.float64)
