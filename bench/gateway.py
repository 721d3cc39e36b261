"""The gateway against `mlflow models serve`, side by side, on the same digits classifier.

    make bench-tools                      # wrk, the load generator (Debian package)
    .local/venv/bin/python bench/gateway.py [--duration 15] [--connections 16] [--cpus 1]
    .local/venv/bin/python bench/gateway.py --before 500645a --rounds 3   # and an older commit's

Both servers run the same registered model version under uvicorn with the
same worker count and access logs off, pinned to the same CPUs (`--cpus`,
with taskset; wrk runs on `--client-cpus`); the gateway also logs every
prediction to Kafka (the local stack's, started if needed, unpinned). One load generator, wrk, at
the same concurrency, for two cases: single predictions and batches of 32.

For each case: the throughput at saturation (requests/s, p50 and p99), then
the gateway paced at the peer's highest sustainable rate (its saturation
throughput), with Poisson arrivals, for the p99 latency there.

`--before REF` also runs the gateway of an older commit (a git worktree of
REF, on this checkout's virtualenv and stack), on the same CPUs and port
range, measured at saturation in the same run: the figures before and after
a change, side by side. `--rounds N` measures each server N times at
saturation, in turn and in alternating order, and reports the median run.

The last line is `gateway_vs_mlflow_rps=… p99_ms=…`: the smaller of the two
throughput ratios, and the larger of the gateway's two paced p99s (with
--before, also `before_vs_mlflow_rps=…`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import pandas as pd
from mlflow import MlflowClient
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from closeloop.gateway.champions import TASK_TAG
from closeloop.stack.manager import LocalStack
from closeloop.stack.settings import get_stack_settings

console = Console()
MODEL = "bench-gateway-digits"
FEATURES = [f"pixel_{i}" for i in range(64)]

PACED_LUA = """
-- Each connection waits a random, exponentially distributed time (mean `gap` ms)
-- before each request: Poisson arrivals at about connections * 1000 / gap
-- requests/s. A fixed gap would keep the connections in lockstep, in bursts.
local gap = tonumber(os.getenv("GAP_MS"))
math.randomseed(os.time())
function delay() return -math.log(1 - math.random()) * gap end
"""
POST_LUA = """
local f = io.open(os.getenv("BODY"), "r")
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
"""


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def register(tracking_uri: str) -> tuple[str, pd.DataFrame]:
    digits = load_digits()
    x = pd.DataFrame(digits.data, columns=FEATURES)
    model = LogisticRegression(max_iter=300).fit(x[:1200], digits.target[:1200])
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(MODEL)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=MODEL,
            input_example=x[:2],
            pip_requirements=["scikit-learn"],
        )
    client = MlflowClient(tracking_uri)
    version = str(info.registered_model_version)
    client.set_model_version_tag(MODEL, version, TASK_TAG, "classification")
    client.set_registered_model_alias(MODEL, "champion", version)
    return version, x


def wait_until(url: str, ok: str | None = None, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200 and (ok is None or ok in response.text):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    sys.exit(f"{url} did not become ready in {timeout:.0f} s")


def parse_wrk(output: str) -> Run:
    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    # The latency distribution's own lines; "87.50%" elsewhere is a standard deviation share.
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Run(rps, p50, p99, int(errors.group(1)) if errors else 0)


def pinned(cpus: str) -> list[str]:
    return ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []


#: The CPUs wrk runs on; set from --client-cpus.
CLIENT_CPUS = ""


def wrk(url: str, body: Path, *, connections: int, duration: float, gap_ms: float | None, work: Path) -> Run:
    script = work / ("paced.lua" if gap_ms else "post.lua")
    script.write_text(POST_LUA + (PACED_LUA if gap_ms else ""))
    env = {**os.environ, "BODY": str(body), "GAP_MS": str(gap_ms or 0)}
    command = [
        *pinned(CLIENT_CPUS),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration:.0f}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return parse_wrk(result.stdout)


def _median_run(runs: list[Run]) -> Run:
    """The run of median throughput (its own latencies with it)."""
    return sorted(runs, key=lambda r: r.rps)[len(runs) // 2]


def start_gateway(
    port: int, args: argparse.Namespace, env: dict[str, str], work: Path, name: str
) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [
            *pinned(args.cpus),
            *("uvicorn", "closeloop.gateway.app:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)),
        ],
        env={**env, "CLOSELOOP_MODELS": json.dumps([MODEL]), "CLOSELOOP_STATE_DIR": str(work / name)},
        stdout=(work / f"{name}.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    return process, port


def checkout(ref: str, work: Path) -> Path:
    """A git worktree of `ref`: its closeloop package goes first on the gateway's PYTHONPATH."""
    folder = work / "before-src"
    repo = Path(__file__).resolve().parents[1]
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(folder), ref], check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of each server")
    parser.add_argument("--mlflow-port", type=int, default=5055)
    parser.add_argument("--gateway-port", type=int, default=8055)
    parser.add_argument("--cpus", default="1", help="CPU list both servers are pinned to ('' for none)")
    parser.add_argument("--client-cpus", default="0", help="CPU list of the load generator")
    parser.add_argument("--before", metavar="REF", help="also measure the gateway of this git commit")
    parser.add_argument(
        "--rounds", type=int, default=1, help="saturation runs per server, in turn (medians; default 1)"
    )
    args = parser.parse_args()
    global CLIENT_CPUS
    CLIENT_CPUS = args.client_cpus
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run `make bench-tools` (Debian's wrk package)")

    settings = get_stack_settings()
    console.print("starting Kafka, MinIO and MLflow (if not running)")
    LocalStack(settings).up(["kafka", "mlflow"])
    version, x = register(settings.mlflow_tracking_uri)
    console.print(f"registered {MODEL} version {version}")

    work = Path(tempfile.mkdtemp(prefix="closeloop-bench-gateway-"))
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}", "UVICORN_ACCESS_LOG": "false"}
    mlflow_server = subprocess.Popen(
        [
            *pinned(args.cpus),
            *("mlflow", "models", "serve", "-m", f"models:/{MODEL}/{version}", "--env-manager", "local"),
            *("--host", "127.0.0.1", "--port", str(args.mlflow_port), "--workers", str(args.workers)),
        ],
        env={**env, "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri},
        stdout=(work / "mlflow.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    gateways = {"gateway": start_gateway(args.gateway_port, args, env, work, "gateway")}
    if args.before:
        source = checkout(args.before, work)
        gateways[f"gateway @ {args.before}"] = start_gateway(
            args.gateway_port + 1, args, {**env, "PYTHONPATH": str(source)}, work, "before"
        )
    mlflow_url = f"http://127.0.0.1:{args.mlflow_port}"
    gateway_url = f"http://127.0.0.1:{args.gateway_port}"
    try:
        wait_until(f"{mlflow_url}/ping")
        for _, port in gateways.values():
            wait_until(f"http://127.0.0.1:{port}/readyz", ok='"status":"ready"')
        rows = x.iloc[1200:1232].to_dict("records")
        cases = {"single": rows[:1], "batch of 32": rows}
        results: dict[str, dict[str, Run]] = {}
        for case, instances in cases.items():
            request = {"inputs": instances[0]} if len(instances) == 1 else {"instances": instances}
            bodies = {
                "mlflow": (f"{mlflow_url}/invocations", {"dataframe_records": instances}),
                **{
                    name: (f"http://127.0.0.1:{port}/v1/models/{MODEL}/predict", request)
                    for name, (_, port) in gateways.items()
                },
            }
            files = {}
            for server, (url, payload) in bodies.items():
                files[server] = work / f"{server}-{len(instances)}.json"
                files[server].write_text(json.dumps(payload))
                check = httpx.post(
                    url, content=files[server].read_bytes(), headers={"Content-Type": "application/json"}
                )
                check.raise_for_status()
                wrk(url, files[server], connections=args.connections, duration=2, gap_ms=None, work=work)
            # Rounds in turn, each in the other order: the machine's drift is shared, not one server's.
            runs: dict[str, list[Run]] = {server: [] for server in bodies}
            for round_ in range(args.rounds):
                order = list(bodies) if round_ % 2 == 0 else list(reversed(bodies))
                for server in order:
                    console.print(
                        f"{case}: {server} at saturation, {args.connections} connections"
                        f" (round {round_ + 1} of {args.rounds})"
                    )
                    runs[server].append(
                        wrk(
                            bodies[server][0],
                            files[server],
                            connections=args.connections,
                            duration=args.duration,
                            gap_ms=None,
                            work=work,
                        )
                    )
            results[case] = {server: _median_run(r) for server, r in runs.items()}
            peer_rate = results[case]["mlflow"].rps
            gap = args.connections * 1000.0 / peer_rate
            console.print(f"{case}: gateway paced at the peer's {peer_rate:.0f} requests/s")
            results[case]["gateway @ peer rate"] = wrk(
                bodies["gateway"][0],
                work / f"gateway-{len(instances)}.json",
                connections=args.connections,
                duration=args.duration,
                gap_ms=gap,
                work=work,
            )
        published = [
            line
            for line in httpx.get(f"{gateway_url}/metrics").text.splitlines()
            if line.startswith("closeloop_gateway_events_total")
        ]
    finally:
        for process in (*(p for p, _ in gateways.values()), mlflow_server):
            process.terminate()
            process.wait(timeout=30)
        if args.before:
            subprocess.run(["git", "worktree", "remove", "--force", str(work / "before-src")], check=False)
        shutil.rmtree(work, ignore_errors=True)

    table = Table(
        title=f"gateway vs mlflow models serve, {args.workers} worker(s), {args.connections} connections, "
        f"servers on CPUs {args.cpus or 'any'}"
    )
    for column in ("case", "server", "requests/s", "predictions/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right" if column not in ("case", "server") else "left")
    for case, runs in results.items():
        size = len(cases[case])
        for server, run in runs.items():
            table.add_row(
                case,
                server,
                f"{run.rps:.0f}",
                f"{run.rps * size:.0f}",
                f"{run.p50_ms:.1f}",
                f"{run.p99_ms:.1f}",
                str(run.errors),
            )
    console.print(table)
    console.print("Kafka, from the gateway's /metrics:", *published, sep="\n  ")
    ratios = {case: runs["gateway"].rps / runs["mlflow"].rps for case, runs in results.items()}
    for case, ratio in ratios.items():
        console.print(f"{case}: gateway {ratio:.1f}x the requests/s of mlflow models serve")
    p99 = max(runs["gateway @ peer rate"].p99_ms for runs in results.values())
    last = f"gateway_vs_mlflow_rps={min(ratios.values()):.2f} p99_ms={p99:.1f}"
    if args.before:
        old = f"gateway @ {args.before}"
        before = {case: runs[old].rps / runs["mlflow"].rps for case, runs in results.items()}
        for case, ratio in before.items():
            console.print(f"{case}: {old} {ratio:.1f}x the requests/s of mlflow models serve")
        last += f" before_vs_mlflow_rps={min(before.values()):.2f}"
    print(last)


if __name__ == "__main__":
    main()
