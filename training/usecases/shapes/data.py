"""The shapes base data: greyscale scenes of circles, squares and triangles, drawn here as PNG images.

Nothing is downloaded: a seeded generator lays out 0 to MAX_OBJECTS shapes
per scene (sizes, places, kinds; boxes never closer than GAP pixels, so
objects never touch) and PIL draws them in a random dark grey on a light
paper with a little sensor noise. A scene's target is its layout, so a
``Style`` (paper, ink, faint ink, gradient, clutter, noise) says all there is
about how it looks, and a drift is a change of style (``drift``) drawn over
the same layout.
"""

from __future__ import annotations

import base64
import copy
import io
import math
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from training.usecases.base import TARGET, BaseData

__all__ = [
    "CLUTTER",
    "FEATURES",
    "GAP",
    "LABELS",
    "MAX_OBJECTS",
    "MAX_SIDE",
    "MIN_SIDE",
    "SIZE",
    "STYLE",
    "Style",
    "encode_png",
    "load_base_data",
    "render_frame",
    "render_scene",
    "scene_objects",
]

#: The model's one input: the scene image, a PNG in base64.
FEATURES = ["image_png"]
#: The object classes.
LABELS = ("circle", "square", "triangle")
#: Scenes are SIZE x SIZE pixels.
SIZE = 64
#: At most this many objects per scene (0 to MAX_OBJECTS, uniformly, as many as fit).
MAX_OBJECTS = 5
#: Objects are MIN_SIDE to MAX_SIDE pixels across.
MIN_SIDE, MAX_SIDE = 10, 20
#: Pixels of paper at least between two boxes, and between a box and the border: objects never touch.
GAP = 4

_TRAIN_SCENES, _TEST_SCENES = 1500, 400
_SEED = 0
# A place for an object is drawn this many times before the scene makes do with fewer objects.
_PLACEMENT_TRIES = 50


@dataclass(frozen=True)
class Style:
    """How a scene is printed and scanned; grey levels are 0 (black) to 255 (white)."""

    #: Paper grey, drawn uniformly per scene.
    paper: tuple[float, float] = (225.0, 250.0)
    #: How much darker than the paper an object is, drawn uniformly per object.
    ink: tuple[float, float] = (130.0, 215.0)
    #: The share of objects printed faint instead, ...
    faint: float = 0.0
    #: ... this much darker than the paper.
    faint_ink: tuple[float, float] = (13.0, 26.0)
    #: Grey levels the paper darkens by from one side of the scene to the other (uneven light).
    gradient: float = 0.0
    #: Distractors per scene, in units of CLUTTER (lines, scribbles, arcs, specks).
    clutter: float = 0.0
    #: How much darker than the paper the light distractors (all but the specks) are.
    clutter_ink: tuple[float, float] = (50.0, 85.0)
    #: Standard deviation of the sensor noise, in grey levels.
    noise: float = 3.0

    def but(self, **changes: object) -> Style:
        return replace(self, **changes)  # type: ignore[arg-type]


#: The style of the base data, and of live traffic until something drifts.
STYLE = Style()
#: Distractors of each kind per unit of ``Style.clutter``.
CLUTTER = {"line": 3.0, "scribble": 1.0, "arc": 1.5, "speck": 3.0}


def _apart(box: list[int], other: list[int]) -> bool:
    """Whether two boxes are at least GAP pixels apart, along x or along y."""
    return (
        box[0] >= other[2] + GAP
        or other[0] >= box[2] + GAP
        or box[1] >= other[3] + GAP
        or other[1] >= box[3] + GAP
    )


def scene_objects(rng: np.random.Generator) -> list[dict[str, Any]]:
    """A layout: 0 to MAX_OBJECTS objects ``{"box": [x1, y1, x2, y2], "label": ...}``, x2 and y2 exclusive."""
    objects: list[dict[str, Any]] = []
    for _ in range(int(rng.integers(0, MAX_OBJECTS + 1))):
        for _ in range(_PLACEMENT_TRIES):
            side = int(rng.integers(MIN_SIDE, MAX_SIDE + 1))
            x, y = (int(v) for v in rng.integers(GAP, SIZE - GAP - side + 1, size=2))
            box = [x, y, x + side, y + side]
            if all(_apart(box, o["box"]) for o in objects):
                objects.append({"box": box, "label": LABELS[int(rng.integers(len(LABELS)))]})
                break
    return objects


def _shape(obj: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """The pixels of one object, a boolean SIZE x SIZE mask; a triangle points up or down at random."""
    layer = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(layer)
    x1, y1, x2, y2 = obj["box"]
    # PIL's corners are inclusive, the boxes' x2 and y2 exclusive.
    right, bottom = x2 - 1, y2 - 1
    if obj["label"] == "circle":
        draw.ellipse([x1, y1, right, bottom], fill=255)
    elif obj["label"] == "square":
        draw.rectangle([x1, y1, right, bottom], fill=255)
    elif rng.random() < 0.5:
        draw.polygon([(x1, bottom), (right, bottom), ((x1 + right) / 2, y1)], fill=255)
    else:
        draw.polygon([(x1, y1), (right, y1), ((x1 + right) / 2, bottom)], fill=255)
    return np.asarray(layer) > 0


def _clutter(amount: float, style: Style, rng: np.random.Generator) -> np.ndarray:
    """How much darker than the paper each pixel's distractors are: lines, scribbles, arcs, specks."""
    layer = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(layer)

    def light() -> int:
        return round(rng.uniform(*style.clutter_ink))

    for _ in range(rng.poisson(CLUTTER["line"] * amount)):
        # A line through the whole scene, at any angle: it crosses whatever lies in its way.
        (cx, cy), angle = rng.uniform(0, SIZE, 2), rng.uniform(0, math.pi)
        dx, dy = SIZE * math.cos(angle), SIZE * math.sin(angle)
        draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=light(), width=int(rng.integers(1, 4)))
    for _ in range(rng.poisson(CLUTTER["scribble"] * amount)):
        steps = rng.normal(0, 8, (int(rng.integers(4, 8)), 2))
        points = np.cumsum(steps, axis=0) + rng.uniform(0, SIZE, 2)
        draw.line(
            [tuple(p) for p in points.tolist()], fill=light(), width=int(rng.integers(1, 3)), joint="curve"
        )
    for _ in range(rng.poisson(CLUTTER["arc"] * amount)):
        # Part of a circle's outline: a shape half drawn.
        side = rng.uniform(MIN_SIDE, 1.5 * MAX_SIDE)
        x, y = rng.uniform(-side / 2, SIZE - side / 2, 2)
        start = rng.uniform(0, 360)
        draw.arc([x, y, x + side, y + side], start, start + rng.uniform(90, 220), fill=light(), width=2)
    for _ in range(rng.poisson(CLUTTER["speck"] * amount)):
        # Specks are as dark as the objects, but small.
        (x, y), radius = rng.uniform(0, SIZE, 2), rng.uniform(0.5, 1.5)
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=round(rng.uniform(*style.ink)))
    return np.asarray(layer, dtype=np.float64)


def render_scene(objects: list[dict[str, Any]], style: Style, rng: np.random.Generator) -> Image.Image:
    """The scene of ``objects`` (a layout, ``scene_objects``) printed in ``style``, greyscale SIZE x SIZE."""
    paper = np.full((SIZE, SIZE), rng.uniform(*style.paper))
    if style.gradient:
        # Light falling off along a random direction, by ``gradient`` grey levels across the scene.
        angle = rng.uniform(0, 2 * math.pi)
        rows, columns = np.mgrid[0:SIZE, 0:SIZE]
        ramp = math.cos(angle) * columns + math.sin(angle) * rows
        paper -= style.gradient * (ramp - ramp.min()) / np.ptp(ramp)
    ink = _clutter(style.clutter, style, rng) if style.clutter else np.zeros((SIZE, SIZE))
    for obj in objects:
        faint = rng.random() < style.faint
        ink[_shape(obj, rng)] = rng.uniform(*(style.faint_ink if faint else style.ink))
    pixels = paper - ink
    if style.noise:
        pixels += rng.normal(0.0, style.noise, pixels.shape)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def encode_png(image: Image.Image) -> str:
    """``image`` as a PNG file in base64: what a client sends the gateway."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def render_frame(layouts: list[list[dict[str, Any]]], style: Style = STYLE, seed: int = 0) -> pd.DataFrame:
    """One row per layout: its scene (``image_png``) in ``style`` and the layout itself (``TARGET``)."""
    rng = np.random.default_rng(seed)
    images = [encode_png(render_scene(objects, style, rng)) for objects in layouts]
    return pd.DataFrame({FEATURES[0]: images, TARGET: [copy.deepcopy(objects) for objects in layouts]})


@cache
def _base_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(_SEED)
    layouts = [scene_objects(rng) for _ in range(_TRAIN_SCENES + _TEST_SCENES)]
    frame = render_frame(layouts, STYLE, seed=_SEED + 1)
    return frame.iloc[:_TRAIN_SCENES].reset_index(drop=True), frame.iloc[_TRAIN_SCENES:].reset_index(
        drop=True
    )


def _copy(frame: pd.DataFrame) -> pd.DataFrame:
    # The targets are lists of dicts: a shallow copy would let a caller edit the cached ones.
    return frame.assign(**{TARGET: [copy.deepcopy(t) for t in frame[TARGET]]})


def load_base_data() -> BaseData:
    """1,500 training and 400 test scenes in the base style, always the same (copies: callers may edit)."""
    train, test = _base_frames()
    return BaseData(train=_copy(train), test=_copy(test))
