"""What a demo run adds up to: its result, the plot and JSON summary it leaves, and the closing report.

The summary's keys are read by tests/integration/demo/test_demo.py and by
anyone comparing runs: the timeline's (marks, windows, time to recovery by
part), then closed, failure, the two champions, traffic, stability, options.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from closeloop.demo.display import milestones_table
from closeloop.demo.options import DemoFailed, DemoOptions
from closeloop.demo.plot import save_plot
from closeloop.demo.simulator import TrafficStats
from closeloop.demo.stability import Stability
from closeloop.demo.timeline import Timeline

__all__ = ["DemoResult", "print_report", "save_summary"]


@dataclass(frozen=True)
class DemoResult:
    timeline: Timeline
    plot: Path
    summary: Path
    failure: DemoFailed | None
    traffic: TrafficStats | None
    stability: Stability | None = None

    @property
    def closed(self) -> bool:
        return self.failure is None


def save_summary(
    timeline: Timeline,
    options: DemoOptions,
    output_dir: Path,
    *,
    failure: DemoFailed | None,
    first_champion: str | None,
    new_champion: str | None,
    stats: TrafficStats | None,
    stability: Stability | None,
) -> tuple[Path, Path]:
    """The plot and the JSON summary, named for the demo's start; their paths."""
    stamp = timeline.started.strftime("%Y%m%dT%H%M%S")
    plot = save_plot(timeline, output_dir / f"demo-{stamp}.png", threshold=options.threshold)
    summary = output_dir / f"demo-{stamp}.json"
    payload = {
        **timeline.to_json(),
        "closed": failure is None,
        "failure": None if failure is None else {"step": failure.step, "why": failure.why},
        "first_champion": first_champion,
        "new_champion": new_champion,
        "traffic": None
        if stats is None
        else {
            "predictions": stats.predictions,
            "feedback": stats.feedback,
            "failures": dict(stats.failures),
            "served_versions": dict(stats.served_versions),
        },
        "stability": None if stability is None else stability.to_json(),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()},
    }
    summary.write_text(json.dumps(payload, indent=2) + "\n")
    return plot, summary


def print_report(
    console: Console,
    result: DemoResult,
    options: DemoOptions,
    *,
    first_champion: str | None,
    new_champion: str | None,
) -> None:
    """The timeline, the time to recovery by part, where the files are, and the verdict."""
    timeline = result.timeline
    console.print()
    console.print(milestones_table(timeline, title="timeline (seconds since the demo started)"))
    breakdown = timeline.breakdown()
    table = Table(title="time to recovery: drift → new champion serving", title_justify="left", min_width=50)
    table.add_column("part")
    table.add_column("seconds", justify="right")
    for part, seconds in breakdown.parts.items():
        table.add_row(part, f"{seconds:.1f}")
    if breakdown.total_s is not None:
        table.add_row("[bold]total[/]", f"[bold]{breakdown.total_s:.1f}[/]")
    console.print(table)
    console.print(f"plot:    {result.plot}\nsummary: {result.summary}")
    if result.failure is None:
        console.print(
            f"[green bold]the loop closed[/]: version {new_champion} replaced {first_champion} "
            "and live "
            f"{timeline.quality_metric} recovered ({options.at_least} {options.threshold:g})"
            + (f", {breakdown.total_s:.1f} s after the drift" if breakdown.total_s is not None else "")
        )
    else:
        console.print(
            f"[red bold]the loop did not close[/] at step [bold]{result.failure.step}[/]: "
            f"{result.failure.why}"
        )
