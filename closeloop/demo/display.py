"""The demo's live view in the terminal (rich): recent windows, the loop's milestones, the retrain run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from closeloop.demo.simulator import TrafficStats
from closeloop.demo.timeline import Timeline

__all__ = ["LiveView", "Narrator", "RetrainView", "milestones_table", "traffic_line"]

#: Task ids of the retrain DAG, in order, and how the view abbreviates their states.
_STATE_SIGNS = {"success": "[green]✓[/]", "running": "[yellow]▶[/]", "failed": "[red]✗[/]"}


@dataclass
class RetrainView:
    run_id: str | None = None
    state: str = ""
    url: str = ""
    tasks: dict[str, str | None] = field(default_factory=dict)

    def render(self) -> Text:
        if self.run_id is None:
            return Text.from_markup("[dim]retrain: waiting for an alert to start a run[/]")
        tasks = "  ".join(
            f"{task} {_STATE_SIGNS.get(state or '', '·')}" for task, state in self.tasks.items()
        )
        return Text.from_markup(
            f"retrain run [bold]{self.run_id}[/] {self.state}\n  {tasks}\n  [dim]{self.url}[/]"
        )


class Narrator:
    """The demo's log lines, each stamped with the seconds since the demo started."""

    def __init__(self, console: Console, timeline: Timeline) -> None:
        self.console = console
        self.timeline = timeline

    def __call__(self, message: str) -> None:
        self.console.print(f"[dim]{self.timeline.seconds(datetime.now(UTC)):6.1f}s[/] {message}")


def traffic_line(stats: TrafficStats) -> str:
    """What the traffic has done so far, for the live view."""
    return (
        f"{stats.predictions} predictions, {stats.feedback} feedback, "
        f"versions served {dict(stats.served_versions)}"
    )


def _seconds(timeline: Timeline, at: datetime) -> str:
    return f"{timeline.seconds(at):7.1f}s"


def milestones_table(timeline: Timeline, *, title: str = "milestones") -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("t", justify="right")
    table.add_column("step")
    table.add_column("what happened", overflow="fold")
    for mark in timeline.marks:
        table.add_row(_seconds(timeline, mark.at), mark.step, mark.detail)
    return table


@dataclass
class LiveView:
    timeline: Timeline
    #: Whether a window's quality counts as recovered (DemoOptions.recovered): the others are red.
    recovered: Callable[[float], bool]
    drift_threshold: float = 0.25
    phase: str = ""
    traffic: str = ""
    retrain: RetrainView = field(default_factory=RetrainView)
    rows: int = 10

    def _windows(self) -> Table:
        table = Table(title="live windows (from closeloop.metrics)", title_justify="left", show_edge=False)
        for column in (
            "window end",
            "version",
            "predictions",
            "labeled",
            self.timeline.quality_metric,
            "max PSI",
        ):
            table.add_column(column, justify="right")
        for w in self.timeline.windows[-self.rows :]:
            quality = "-" if w.quality is None else f"{w.quality:.3f}"
            if w.quality is not None and w.labeled and not self.recovered(w.quality):
                quality = f"[red]{quality}[/]"
            psi = "-" if w.max_psi is None else f"{w.max_psi:.2f}"
            if w.max_psi is not None and w.max_psi > self.drift_threshold:
                psi = f"[red]{psi}[/]"
            table.add_row(
                _seconds(self.timeline, w.end), w.version, str(w.predictions), str(w.labeled), quality, psi
            )
        return table

    def __rich__(self) -> Panel:
        body = Group(
            Text.from_markup(f"[bold]{self.phase}[/]   [dim]{self.traffic}[/]"),
            Text(""),
            self._windows(),
            Text(""),
            milestones_table(self.timeline),
            Text(""),
            self.retrain.render(),
        )
        return Panel(body, title="closeloop demo", border_style="blue")
