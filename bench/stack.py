"""How long the local stack takes to set up and start on this machine, and what it costs idle.

    .local/venv/bin/python bench/stack.py            # cold setup too (downloads, ~10 min)
    .local/venv/bin/python bench/stack.py --no-cold  # warm setup of .local only

Cold: `make setup` into a fresh CLOSELOOP_HOME, so that every package, jar and
Go module is downloaded and built (Debian's Prometheus is installed system-wide
and so counts only if missing). Warm: `make setup` again with everything there.
Up: `closeloop up` from a fresh state directory to all healthy, on ports
shifted by --port-offset so it never meets a stack that is already running.
Memory: the RSS and PSS of every process of that stack after --idle seconds.

The last line is `setup_cold_s=… setup_warm_s=… up_s=… rss_mb=… pss_mb=…`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from closeloop.config import PROJECT_ROOT
from closeloop.stack.process import marked_processes
from closeloop.stack.settings import StackSettings

console = Console()


def shifted_ports(offset: int) -> dict[str, str]:
    """CLOSELOOP_*_PORT variables moving every port of the stack by ``offset``."""
    env = {}
    for name, field in StackSettings.model_fields.items():
        if name.endswith("_port") and isinstance(field.default, int):
            env[f"CLOSELOOP_{name.upper()}"] = str(field.default + offset)
    low, high = (int(p) for p in StackSettings.model_fields["flink_metrics_ports"].default.split("-"))
    env["CLOSELOOP_FLINK_METRICS_PORTS"] = f"{low + offset}-{high + offset}"
    return env


def timed(command: list[str], env: dict[str, str], what: str) -> float:
    console.print(f"[bold]{what}[/]: {' '.join(command)}")
    started = time.monotonic()
    result = subprocess.run(command, env=env, cwd=PROJECT_ROOT, check=False)
    took = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"{what} failed with exit code {result.returncode}")
    console.print(f"  {what}: {took:.1f} s")
    return took


def memory(marker: str) -> tuple[float, float, int]:
    """Total RSS and PSS in MiB of the stack's processes, and how many there are."""
    rss = pss = 0
    procs = marked_processes(marker)
    for proc in procs:
        try:
            info = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        pss += info.pss
    return rss / 2**20, pss / 2**20, len(procs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-cold", action="store_true", help="skip the cold setup; use .local as is")
    parser.add_argument("--home", type=Path, help="CLOSELOOP_HOME for the cold setup (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the cold home afterwards")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds to idle before measuring memory")
    parser.add_argument("--port-offset", type=int, default=20000)
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSELOOP_")}
    if args.no_cold:
        home = PROJECT_ROOT / ".local"
        cold = float("nan")
    else:
        home = args.home or Path(tempfile.mkdtemp(prefix="closeloop-bench-home-"))
        env["CLOSELOOP_HOME"] = str(home)
        cold = timed(["make", "setup"], env, "cold setup")
    env["CLOSELOOP_HOME"] = str(home)
    warm = timed(["make", "setup"], env, "warm setup")

    state = Path(tempfile.mkdtemp(prefix="closeloop-bench-state-"))
    env.update(shifted_ports(args.port_offset), CLOSELOOP_STATE_DIR=str(state))
    closeloop = str(home / "venv" / "bin" / "closeloop")
    try:
        up = timed([closeloop, "up"], env, "closeloop up (fresh state)")
        console.print(f"idling {args.idle:.0f} s before measuring memory")
        time.sleep(args.idle)
        rss, pss, count = memory(str(state.resolve()))
    finally:
        subprocess.run([closeloop, "down"], env=env, cwd=PROJECT_ROOT, check=False, capture_output=True)
        shutil.rmtree(state, ignore_errors=True)
        if not args.no_cold and not args.keep and args.home is None:
            shutil.rmtree(home, ignore_errors=True)

    table = Table(title=f"closeloop local stack on {os.cpu_count()} cores")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("make setup, cold (downloads and builds)", f"{cold:.1f} s")
    table.add_row("make setup, warm (everything present)", f"{warm:.2f} s")
    table.add_row("closeloop up, fresh state, to all healthy", f"{up:.1f} s")
    table.add_row(f"idle memory, {count} processes, RSS", f"{rss:.0f} MiB")
    table.add_row(f"idle memory, {count} processes, PSS", f"{pss:.0f} MiB")
    console.print(table)
    print(f"setup_cold_s={cold:.1f} setup_warm_s={warm:.2f} up_s={up:.1f} rss_mb={rss:.0f} pss_mb={pss:.0f}")


if __name__ == "__main__":
    main()
