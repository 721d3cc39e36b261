"""Drift for shapes scenes: clutter over the shapes, or faint shapes on unevenly lit paper.

A drifted scene is the same layout drawn again in another style
(``data.Style``), so ``drift_frame`` redraws each row's target boxes: the
targets stay true. ``severity`` scales the drift; 0 leaves the rows as they
are. Precision / recall of the default model on the 400 test scenes (clean:
1.00 / 1.00), drifted at 1.0, then after retraining on the base scenes plus
600 drifted ones, on the drifted and on the clean test scenes
(``tests/unit/training/usecases/shapes``):

- clutter: per unit, on average 3 lines through the scene, a scribble and 1.5
  arcs (half-drawn circles) in a light grey (50-85 levels below the paper),
  and 3 dark specks. At the base model's ink threshold the lines and
  scribbles run into the shapes they cross, whose boxes grow past IoU 0.5, or
  are taken for shapes themselves: 0.24 / 0.28 (0.44 / 0.52 at 0.5). A
  retrain learns a threshold above the light grey (0.42 instead of 0.1):
  0.995 / 0.995 drifted, 0.997 / 0.995 clean;
- contrast: that share of the shapes (all from 1.0 on) printed faint, 13-26
  grey levels below the paper instead of 130-215, on paper that darkens by 20
  levels per unit across the scene. The base threshold sees none of them:
  0.05 / 0.00 (0.97 / 0.51 at 0.5). A retrain learns a lower threshold (0.03):
  1.00 / 1.00 drifted, 1.00 / 1.00 clean; the uneven light the model's local
  paper level takes care of, before and after.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.usecases.base import TARGET
from training.usecases.raw_inputs import check_drift
from training.usecases.shapes.data import FEATURES, STYLE, Style, encode_png, render_scene

__all__ = ["DRIFT_KINDS", "drift_frame", "drift_style"]

#: The kinds of drift ``drift_frame`` knows.
DRIFT_KINDS: tuple[str, ...] = ("clutter", "contrast")

_GRADIENT = 20.0  # grey levels across the scene, per unit of severity


def drift_style(kind: str, severity: float) -> Style:
    """The style scenes are drawn in under ``kind`` of drift at ``severity``."""
    if kind == "clutter":
        return STYLE.but(clutter=severity)
    return STYLE.but(faint=min(1.0, severity), gradient=_GRADIENT * severity)


def drift_frame(frame: pd.DataFrame, kind: str, severity: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """A copy of ``frame`` whose images are its layouts (``TARGET``) drawn with the drift; other columns kept.

    The same rows, kind, severity and seed always give the same images.
    ValueError for an unknown kind, a negative or non-finite severity, or a
    frame without the layouts.
    """
    check_drift(frame, kind, DRIFT_KINDS, severity, "draws each layout again")
    if severity == 0:
        return frame.copy()
    style, rng = drift_style(kind, float(severity)), np.random.default_rng(seed)
    images = [encode_png(render_scene(list(objects), style, rng)) for objects in frame[TARGET]]
    return frame.assign(**{FEATURES[0]: images})
