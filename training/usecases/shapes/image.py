"""A scene image as the shapes model sees it: decoded, greyscale, floats in [0, 1], at its own size.

The one normalization of the use case: training, the gateway (through the
model) and the monitoring features all start from ``decode``. Unlike OCR's
lines, scenes are not rescaled: the boxes are in the image's own pixels.
"""

from __future__ import annotations

import numpy as np

from closeloop.media.image import decode_image
from training.usecases.raw_inputs import b64_file

__all__ = ["MAX_PNG_BYTES", "MAX_SIDE_PX", "decode", "ink"]

#: The largest image accepted, decoded from base64: a 64 x 64 scene is about 4 kB.
MAX_PNG_BYTES = 256 * 1024
#: The widest and highest image accepted: checked before the pixels are decoded, so a small
#: file that would decompress to a huge image is refused cheaply.
MAX_SIDE_PX = 1024


def decode(png_base64: str) -> np.ndarray:
    """The image as greyscale floats in [0, 1] (0 black), its size kept.

    ValueError saying what is wrong for anything that is not a PNG or JPEG
    image in base64 of at most MAX_PNG_BYTES and MAX_SIDE_PX pixels a side.
    """
    raw = b64_file(png_base64, "image", MAX_PNG_BYTES)
    image = decode_image(raw, max_side=MAX_SIDE_PX)
    return np.asarray(image, dtype=np.float64) / 255.0


def ink(grey: np.ndarray) -> np.ndarray:
    """How much darker than the paper each pixel is, 0 for the paper and above (in [0, 1] grey units).

    The paper is the median grey (a scene is mostly paper). The scale is
    absolute, not the scene's own: an empty scene must not turn its noise
    into ink.
    """
    return np.clip(np.median(grey) - grey, 0.0, None)
