"""What the models page draws from its rows: sparklines and readable numbers. Pure, so unit-tested."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup

__all__ = ["Sparkline", "number", "script_json", "sparklines"]


class Sparkline:
    """One version's line in a sparkline: SVG polyline points, scaled into a shared box."""

    def __init__(self, version: str, points: str, last: float) -> None:
        self.version = version
        self.points = points
        self.last = last


def sparklines(
    history: Mapping[str, Sequence[tuple[datetime, float]]], *, width: int = 160, height: int = 32
) -> list[Sparkline]:
    """Every version's points in one box: time shared on x, the metric's range shared on y.

    The box starts at the first point of the second-newest version. A
    version with one point is drawn as a dot's worth of line; a flat metric
    sits in the middle.
    """
    series = {v: p for v, p in history.items() if p}
    if not series:
        return []
    # From the first point of the two newest versions: older ones would squeeze the change that
    # matters into the right edge.
    starts = sorted({p[0][0] for p in series.values()})
    since = starts[-2] if len(starts) > 1 else starts[0]
    series = {v: kept for v, p in series.items() if (kept := [pt for pt in p if pt[0] >= since])}
    times = [t.timestamp() for p in series.values() for t, _ in p]
    values = [y for p in series.values() for _, y in p]
    t0, t1 = min(times), max(times)
    low, high = min(values), max(values)

    def x(t: datetime) -> float:
        return 0.0 if t1 == t0 else (t.timestamp() - t0) / (t1 - t0) * width

    def y(v: float) -> float:
        # SVG's y grows downwards: the best value at the top.
        return height / 2 if high == low else (high - v) / (high - low) * (height - 2) + 1

    lines = []
    for version, points in series.items():
        coords = [(x(t), y(v)) for t, v in points]
        if len(coords) == 1:
            coords.append((coords[0][0] + 2, coords[0][1]))
        lines.append(Sparkline(version, " ".join(f"{a:.1f},{b:.1f}" for a, b in coords), points[-1][1]))
    return lines


def number(value: float | None, digits: int = 3) -> str:
    """A metric as the page shows it: a few significant digits, or a dash when there is none."""
    return "-" if value is None else f"{value:.{digits}g}"


def script_json(value: Any) -> Markup:
    """``value`` as JSON to embed in a <script> element: times as ISO text, dataclasses as objects,
    and nothing that could close the element or open a comment."""

    def default(item: Any) -> Any:
        if isinstance(item, datetime):
            return item.isoformat()
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            return dataclasses.asdict(item)
        raise TypeError(f"not JSON: {type(item).__name__}")

    text = json.dumps(value, default=default)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return Markup(text)
