"""The demo's picture: live quality and drift per window over time, with the loop's milestones marked."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the demo runs in terminals and CI without a display

import matplotlib.pyplot as plt

from closeloop.demo.timeline import Timeline

__all__ = ["save_plot"]

_LABELS = {
    "drift": "drift starts",
    "alert": "alert",
    "dag_start": "retrain starts",
    "canary": "canary serves",
    "live gate": "live gate",
    "promoted": "new champion",
    "served": "gateway serves it",
    "recovered": "recovered",
}


def save_plot(
    timeline: Timeline, path: Path, *, threshold: float | None = None, min_samples: int = 10
) -> Path:
    """Write a PNG of ``timeline`` to ``path`` and return it.

    A window with fewer than ``min_samples`` labels (or predictions, for drift)
    says little; its point is left out rather than drawn as a spike.
    """
    figure, (quality_axis, drift_axis) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    versions = sorted({w.version for w in timeline.windows}, key=lambda v: (len(v), v))
    for version in versions:
        points = [w for w in timeline.windows if w.version == version]
        rated = [w for w in points if w.labeled >= min_samples and w.quality is not None]
        quality_axis.plot(
            [timeline.seconds(w.end) for w in rated],
            [w.quality for w in rated],
            marker="o",
            markersize=3,
            label=f"version {version}",
        )
        drifted = [w for w in points if w.predictions >= min_samples and w.max_psi is not None]
        drift_axis.plot(
            [timeline.seconds(w.end) for w in drifted],
            # Clipped: a log scale has no zero.
            [max(w.max_psi or 0.0, 0.01) for w in drifted],
            marker="o",
            markersize=3,
        )
    if threshold is not None:
        quality_axis.axhline(threshold, color="grey", linestyle=":", linewidth=1, label="recovery threshold")
    quality_axis.set_ylabel(f"live {timeline.quality_metric}")
    quality_axis.set_ylim(0, 1.05)
    drift_axis.set_ylabel("max PSI over inputs")
    drift_axis.set_yscale("log")
    drift_axis.set_xlabel("seconds since the demo started (window end)")
    labelled = [m for m in timeline.marks if m.step in _LABELS]
    for i, mark in enumerate(labelled):
        at = timeline.seconds(mark.at)
        for axis in (quality_axis, drift_axis):
            axis.axvline(at, color="tab:red" if mark.step == "drift" else "tab:grey", linewidth=0.8)
        # Milestones a second apart would print over each other: every other label sits lower.
        quality_axis.annotate(
            _LABELS[mark.step],
            (at, 1.02 if i % 2 == 0 else 0.62),
            rotation=90,
            fontsize=7,
            va="top",
            ha="right",
            color="dimgrey",
        )
    quality_axis.legend(loc="lower left", fontsize=8)
    total = timeline.breakdown().total_s
    title = "closeloop demo: live quality and drift"
    figure.suptitle(title + (f" (time to recovery {total:.1f} s)" if total is not None else ""))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
