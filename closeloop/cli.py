"""The `closeloop` command: run the local stack.

closeloop up [SERVICE...]     start (what is not running) and wait until healthy
closeloop status              one line per service: pid, port, health, URL
closeloop logs SERVICE        the tail of a service's logs (-f to follow)
closeloop down [SERVICE...]   stop what `up` started
closeloop rollback MODEL      make the previous champion the champion again
closeloop demo                the closed loop, end to end, on the local stack
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from closeloop.config import get_settings
from closeloop.errors import CloseloopError, ServiceUnhealthyError
from closeloop.stack.manager import LocalStack, ServiceStatus, log_tail
from closeloop.stack.services.airflow import AirflowService
from closeloop.stack.settings import get_stack_settings

__all__ = ["app", "main"]

app = typer.Typer(
    help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False
)
console = Console()
err = Console(stderr=True)

Services = Annotated[list[str] | None, typer.Argument(help="Services (default: all).")]


def _stack() -> LocalStack:
    return LocalStack(get_stack_settings())


def _reporter(started: float):
    def report(service: str, message: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:6.1f}s[/] [bold]{service:<16}[/] {message}")

    return report


def _status_table(rows: list[ServiceStatus]) -> Table:
    table = Table(title="closeloop local stack")
    for column in ("service", "pid / job", "port", "healthy", "URL"):
        table.add_column(column)
    for row in rows:
        healthy = "[green]yes[/]" if row.health.ok else f"[red]no[/] [dim]{row.health.detail}[/]"
        pids = ", ".join(row.ids) or "-"
        table.add_row(row.name, pids, str(row.port), healthy, row.url)
    return table


def _print_urls(stack: LocalStack) -> None:
    console.print("\n[bold]URLs[/]")
    for service in stack.services.values():
        for label, url in service.urls().items():
            console.print(f"  {label:<16} {url}")
    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    console.print(f"\nAirflow login: user [bold]admin[/], password in [bold]{airflow.password_file}[/]")
    console.print(f"State, logs and pid files: {stack.layout.state}")


@app.command()
def up(services: Services = None) -> None:
    """Start the local stack (or some services and what they need) and wait until healthy."""
    stack = _stack()
    started = time.monotonic()
    try:
        rows = stack.up(services, report=_reporter(started))
    except ServiceUnhealthyError as exc:
        err.print(f"[red bold]{exc}[/]\n\n{exc.log_tail}")
        err.print(
            f"\n[red]`closeloop up` failed: {exc.service} is not healthy.[/] "
            "Inspect with `closeloop logs`, stop with `closeloop down`."
        )
        raise typer.Exit(1) from exc
    except CloseloopError as exc:
        err.print(f"[red bold]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(_status_table(rows))
    console.print(f"All healthy in {time.monotonic() - started:.1f} s.")
    _print_urls(stack)


@app.command()
def down(services: Services = None) -> None:
    """Stop what `closeloop up` started, by pid; with no service named, all of it."""
    try:
        _stack().down(services, report=_reporter(time.monotonic()))
    except CloseloopError as exc:
        err.print(f"[red bold]{exc}[/]")
        raise typer.Exit(1) from exc


@app.command()
def status(services: Services = None) -> None:
    """Print service, pid, port, health and URL; exit 1 unless every service is healthy."""
    try:
        rows = _stack().status(services)
    except CloseloopError as exc:
        err.print(f"[red bold]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(_status_table(rows))
    if not all(row.health.ok for row in rows):
        raise typer.Exit(1)


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help="The service whose logs to show.")],
    lines: Annotated[int, typer.Option("-n", "--lines", help="Lines per log file.")] = 60,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing new lines.")] = False,
) -> None:
    """Show the tail of a service's log files."""
    stack = _stack()
    try:
        (svc,) = stack.select([service], with_dependencies=False)
    except CloseloopError as exc:
        err.print(f"[red bold]{exc}[/]")
        raise typer.Exit(1) from exc
    if follow:
        files = [str(p) for p in svc.log_files() if p.exists()]
        if not files:
            err.print(f"no logs yet for {service}")
            raise typer.Exit(1)
        subprocess.run(["tail", "-n", str(lines), "-F", *files], check=False)
    else:
        console.print(log_tail(svc, lines), markup=False, highlight=False)


@app.command()
def schemas(
    write: Annotated[bool, typer.Option("--write", help="Regenerate schemas/ from the models.")] = False,
) -> None:
    """Check (or with --write, regenerate) the events' JSON Schemas in schemas/."""
    from closeloop.events.schemas import SCHEMA_DIR, stale_schemas, write_schemas

    if write:
        for path in write_schemas():
            console.print(f"wrote {path}")
        return
    stale = stale_schemas()
    if stale:
        err.print(f"[red]stale in {SCHEMA_DIR}: {', '.join(stale)}[/]; run `closeloop schemas --write`")
        raise typer.Exit(1)
    console.print(f"{SCHEMA_DIR} is up to date")


@app.command()
def rollback(
    model: Annotated[str, typer.Argument(help="The registered model, e.g. closeloop-digits.")],
) -> None:
    """Point `champion` back at the previous champion (a second rollback undoes it) and tell the gateway."""
    import getpass

    from mlflow import MlflowClient

    from closeloop.kafka.publish import publish_events
    from training.promotion import model_update
    from training.promotion import rollback as roll_back

    settings = get_settings()
    client = MlflowClient(settings.mlflow_tracking_uri)
    try:
        move = roll_back(client, model, by=getpass.getuser())
        publish_events(settings.kafka_bootstrap, settings.topics.model_updates, [model_update(client, move)])
    except CloseloopError as exc:
        err.print(f"[red bold]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(f"{model}: champion is version {move.version} again (was {move.previous}).")


@app.command()
def demo(
    use_case: Annotated[
        str,
        typer.Option(help="Whose loop to close: digits, ocr, speech or shapes (training.usecases.registry)."),
    ] = "digits",
    rate: Annotated[float, typer.Option(help="Predictions per second, over all clients.")] = 30.0,
    clients: Annotated[int, typer.Option(help="Concurrent clients calling the gateway.")] = 4,
    coverage: Annotated[float, typer.Option(help="Share of predictions that get feedback.")] = 0.8,
    drift_kind: Annotated[
        str,
        typer.Option(
            help="The use case's drift: digits thickness, rotation, noise, shift or contrast; "
            "ocr blur or font; speech voice or noise; shapes clutter or contrast (default: the first)."
        ),
    ] = "",
    severity: Annotated[float, typer.Option(help="Drift severity; 1 is strong.")] = 1.0,
    drift_start: Annotated[float, typer.Option(help="Seconds of clean traffic before the drift.")] = 45.0,
    window: Annotated[int, typer.Option(help="The streaming job's window, in seconds.")] = 5,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Live primary metric that counts as recovered (default: the use case's: "
            "digits accuracy 0.85, ocr CER 0.1, speech WER 0.2, shapes recall 0.8)."
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds after the drift before giving up.")] = 300.0,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave the stack up afterwards, to explore it.")
    ] = False,
    output_dir: Annotated[
        Path | None, typer.Option(help="Where the plot and summary go (default: <state>/demo).")
    ] = None,
    settle: Annotated[
        float,
        typer.Option(
            help="After the loop closes, seconds more of the drifted traffic on the stack's own "
            "streaming job; fails if that starts another retrain or promotion (0: no check)."
        ),
    ] = 0.0,
    canary: Annotated[
        bool,
        typer.Option(
            "--canary",
            help="The retrain's challenger serves a share of the traffic as a canary first, and is "
            "promoted when its live windows are not worse than the champion's.",
        ),
    ] = False,
    canary_share: Annotated[float, typer.Option(help="The canary's share of the traffic.")] = 0.5,
) -> None:
    """The closed loop end to end: traffic, drift, alert, retrain, promotion, recovery; exit 0 if closed."""
    from closeloop.demo.options import DemoOptions
    from closeloop.demo.runner import run_demo

    try:
        options = DemoOptions(
            use_case=use_case,
            rate_per_s=rate,
            clients=clients,
            feedback_coverage=coverage,
            drift_kind=drift_kind,
            drift_severity=severity,
            drift_start_s=drift_start,
            window_s=window,
            recovery_threshold=threshold,
            loop_timeout_s=timeout,
            keep_running=keep_running,
            output_dir=output_dir,
            settle_s=settle,
            canary=canary,
            canary_share=canary_share,
        )
    except ValueError as exc:
        err.print(f"[red bold]{exc}[/]")
        raise typer.Exit(2) from exc
    result = run_demo(get_stack_settings(), options, console)
    raise typer.Exit(0 if result.closed else 1)


def main() -> None:
    app()
