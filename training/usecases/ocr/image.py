"""A line image as the OCR model reads it: decoded, greyscale, ink high, scaled to HEIGHT rows.

The one normalization of the use case: training, the gateway (through the
model) and the monitoring features all start from ``decode``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from closeloop.media.image import decode_image
from training.usecases.ocr.data import HEIGHT
from training.usecases.raw_inputs import b64_file

__all__ = ["MAX_PNG_BYTES", "decode", "ink"]

#: The largest image accepted, decoded from base64: a line is a few kB.
MAX_PNG_BYTES = 256 * 1024
# PIL refuses bigger images itself; a line this wide is no line.
_MAX_WIDTH = 4096


def decode(png_base64: str) -> np.ndarray:
    """The image as greyscale floats in [0, 1] (0 black), HEIGHT rows high, its aspect kept.

    ValueError saying what is wrong for anything that is not a PNG or JPEG
    image in base64 of at most MAX_PNG_BYTES.
    """
    raw = b64_file(png_base64, "image", MAX_PNG_BYTES)
    image = decode_image(raw)
    if image.height != HEIGHT:
        width = max(1, round(image.width * HEIGHT / image.height))
        if width > _MAX_WIDTH:
            raise ValueError(f"image is {width} pixels wide at {HEIGHT} high; at most {_MAX_WIDTH}")
        image = image.resize((width, HEIGHT), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float64) / 255.0


def ink(grey: np.ndarray) -> np.ndarray:
    """How much ink each pixel holds, 0 for the paper and 1 for the darkest ink of the line.

    The paper is the median grey (a line is mostly paper); the scale is the
    line's own, so faded ink reads as well as black.
    """
    amount = np.clip(np.median(grey) - grey, 0.0, None)
    darkest = amount.max()
    return amount / darkest if darkest > 0 else amount
