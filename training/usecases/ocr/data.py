"""The OCR base data: short printed text lines (words, numbers, codes), rendered here as PNG images.

Nothing is downloaded: the text comes from a fixed vocabulary and a seeded
random generator, and the glyphs from the DejaVu fonts that matplotlib ships.
A line is drawn character by character, so a ``Style`` (font, size, ink,
blur, noise) says all there is about how it looks, and a drift is a change
of style (``drift``).
"""

from __future__ import annotations

import base64
import io
import random
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from training.usecases.base import TARGET, BaseData

__all__ = [
    "ALPHABET",
    "FEATURES",
    "HEIGHT",
    "STYLE",
    "Style",
    "encode_png",
    "font_path",
    "load_base_data",
    "render_frame",
    "render_line",
    "text_lines",
]

#: The model's one input: the line image, a PNG in base64.
FEATURES = ["image_png"]
#: What lines are made of, besides single spaces between words.
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
#: Line images are this many pixels high; their width follows the text.
HEIGHT = 32

_WORDS = [
    *("TOTAL", "INVOICE", "PAID", "DUE", "ORDER", "CASH", "VISA", "REF", "ITEM", "QTY", "TAX", "NET"),
    *("SHIP", "BOX", "UNIT", "DATE", "CODE", "LOT", "BATCH", "SERIAL", "PART", "STOCK", "RETURN", "WEIGHT"),
]
# Codes avoid I and O, as real ones do: in most fonts they are 1 and 0 at a glance.
_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_TRAIN_LINES, _TEST_LINES = 1500, 400
_SEED = 0


@dataclass(frozen=True)
class Style:
    """How a line is printed and scanned."""

    #: A font file name in matplotlib's font folder.
    font: str = "DejaVuSans.ttf"
    #: Font sizes in points, drawn uniformly per line.
    sizes: tuple[int, int] = (19, 23)
    #: Pixels between characters, on top of the font's advance.
    spacing: int = 2
    #: Ink grey levels (0 black, 255 white), drawn uniformly per line; the paper is 255.
    ink: tuple[int, int] = (0, 60)
    #: Gaussian blur of the scan, in pixels (0: sharp).
    blur: float = 0.0
    #: Standard deviation of the sensor noise, in grey levels.
    noise: float = 3.0

    def but(self, **changes: object) -> Style:
        return replace(self, **changes)  # type: ignore[arg-type]


#: The style of the base data, and of live traffic until something drifts.
STYLE = Style()


def font_path(name: str) -> Path:
    """The path of a font file matplotlib ships; FileNotFoundError naming the folder if it has none."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    if not path.is_file():
        raise FileNotFoundError(f"no font {name!r} in {path.parent}")
    return path


@cache
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path(name)), size)


def text_lines(count: int, rng: random.Random) -> list[str]:
    """``count`` lines of one to three words, numbers or codes (like "AB-1234")."""
    lines = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 3)):
            kind = rng.random()
            if kind < 0.4:
                parts.append(rng.choice(_WORDS))
            elif kind < 0.7:
                parts.append(str(rng.randint(0, 99_999)))
            else:
                letters = "".join(rng.choice(_CODE_LETTERS) for _ in range(2))
                parts.append(f"{letters}-{rng.randint(100, 9_999)}")
        lines.append(" ".join(parts))
    return lines


def render_line(text: str, style: Style, rng: random.Random) -> Image.Image:
    """``text`` printed in ``style`` as a greyscale image HEIGHT pixels high."""
    font = _font(style.font, rng.randint(*style.sizes))
    advances = [int(font.getlength(c)) + style.spacing for c in text]
    image = Image.new("L", (8 + sum(advances), HEIGHT), 255)
    draw = ImageDraw.Draw(image)
    x, y, ink = 4, rng.randint(1, 5), rng.randint(*style.ink)
    for char, advance in zip(text, advances, strict=True):
        draw.text((x, y), char, font=font, fill=ink)
        x += advance
    if style.blur:
        image = image.filter(ImageFilter.GaussianBlur(style.blur))
    if style.noise:
        noise = np.random.default_rng(rng.getrandbits(32)).normal(0.0, style.noise, (HEIGHT, image.width))
        pixels = np.asarray(image, dtype=np.float64) + noise
        image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
    return image


def encode_png(image: Image.Image) -> str:
    """``image`` as a PNG file in base64: what a client sends the gateway."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def render_frame(texts: list[str], style: Style = STYLE, seed: int = 0) -> pd.DataFrame:
    """One row per text: its image (``image_png``) in ``style`` and the text (``TARGET``)."""
    rng = random.Random(seed)
    images = [encode_png(render_line(text, style, rng)) for text in texts]
    return pd.DataFrame({FEATURES[0]: images, TARGET: texts})


@cache
def _base_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = random.Random(_SEED)
    texts = text_lines(_TRAIN_LINES + _TEST_LINES, rng)
    frame = render_frame(texts, STYLE, seed=_SEED)
    return frame.iloc[:_TRAIN_LINES].reset_index(drop=True), frame.iloc[_TRAIN_LINES:].reset_index(drop=True)


def load_base_data() -> BaseData:
    """1,500 training and 400 test lines in the base style, the same every time (copies: callers may edit)."""
    train, test = _base_frames()
    return BaseData(train=train.copy(), test=test.copy())
