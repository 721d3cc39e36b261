"""Images: a PNG or JPEG file to a greyscale image."""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

__all__ = ["FORMATS", "decode_image"]

#: The image formats a raw input may be in.
FORMATS = ("PNG", "JPEG")


def decode_image(raw: bytes, *, max_side: int | None = None) -> Image.Image:
    """The image, greyscale (PIL mode "L").

    ValueError saying what is wrong for anything that is not a PNG or JPEG
    image, or one larger than ``max_side`` pixels a side.
    """
    try:
        with Image.open(io.BytesIO(raw)) as opened:
            if opened.format not in FORMATS:
                raise ValueError(f"image must be a PNG or JPEG, got {opened.format}")
            width, height = opened.size
            if max_side is not None and max(width, height) > max_side:
                raise ValueError(f"image is {width} x {height} pixels; at most {max_side} a side")
            return opened.convert("L")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"image cannot be decoded: {exc}") from None
