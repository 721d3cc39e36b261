"""The fault and fuzz scenarios on the real stack, in one table: what was sent, kept, lost and recovered.

    .local/venv/bin/python bench/faults.py [--report PATH] [-k EXPRESSION]

Runs the fault tests that `make test` runs (pytest, on the local stack, which
they start as in CI) with CLOSELOOP_FAULTS_REPORT set, so each writes its own
figures (tests/faults.py) before it asserts on them: events sent,
acknowledged, found downstream, lost, extra copies (at least once, where
consumers deduplicate), counted twice where counting happens (windows, the
lake), and the recovery time, from the faulty part's return to everything
found downstream. Each row's unit says what it counts: events on Kafka,
labeled examples in the lake, dead letters, requests.

A scenario survived if its test passed and it lost nothing and counted nothing
twice. The last line is
`faults=N survived=N lost=N dup_counted=N fuzz_cases=N fuzz_5xx=N`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faults import REPORT_ENV, FaultRecord  # noqa: E402

console = Console(width=180)  # the table, unwrapped, in a log or a pipe too

#: The fault and fuzz tests, each one scenario of the table.
TESTS = [
    "tests/integration/gateway/test_crash.py",
    "tests/integration/gateway/test_outage.py",
    "tests/integration/gateway/test_registry_outage.py",
    "tests/integration/gateway/test_fuzz.py",
    "tests/integration/streaming/test_broker_crash.py",
    "tests/integration/streaming/test_shared_broker_kill.py",
    "tests/integration/streaming/test_recovery.py",
    "tests/integration/streaming/test_minio_outage.py",
    "tests/integration/streaming/test_mutated_events.py",
    "tests/integration/training/test_airflow_crash.py",
]


def run_tests(report: Path, junit: Path, keyword: str | None) -> int:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *TESTS]
    command += ["-k", keyword] if keyword else []
    console.log("running:", " ".join(command[2:]))
    return subprocess.run(command, cwd=ROOT, env=os.environ | {REPORT_ENV: str(report)}).returncode


def outcomes(junit: Path) -> dict[str, bool]:
    """``test_file::test_name[params]`` -> whether it passed (not failed, not in error, not skipped)."""
    passed: dict[str, bool] = {}
    for case in ET.parse(junit).iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        passed[name] = not any(child.tag in ("failure", "error", "skipped") for child in case)
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--report", type=Path, help="Keep the scenarios' JSON lines here.")
    parser.add_argument("-k", dest="keyword", help="Only the tests pytest's -k selects.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = args.report or Path(tmp) / "faults.jsonl"
        report.unlink(missing_ok=True)
        junit = Path(tmp) / "junit.xml"
        code = run_tests(report, junit, args.keyword)
        lines = report.read_text().splitlines() if report.exists() else []
        rows = [FaultRecord.model_validate_json(line) for line in lines]
        passed = outcomes(junit) if junit.exists() else {}
    failed = [stem for stem, ok in passed.items() if not ok]

    table = Table(title="closeloop under faults and fuzzing (the tests' own figures)")
    for column in ("scenario", "unit", "sent", "acknowledged", "found downstream", "lost", "extra copies",
                   "counted twice", "recovery s"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("scenario", "unit") else "right")
    for r in rows:
        recovery = "-" if r.recovery_s is None else f"{r.recovery_s:.1f}"
        table.add_row(r.scenario, r.unit, *(str(v) for v in (r.sent, r.acknowledged, r.found, r.lost)),
                      str(r.copies), str(r.counted_twice), recovery)  # fmt: skip
    console.print(table)
    if failed:
        console.print(f"[red]failed tests: {', '.join(failed)}[/red] (pytest exit code {code})")
    scenarios = len(passed)
    survived = sum(1 for ok in passed.values() if ok) - sum(1 for r in rows if r.lost or r.counted_twice)
    lost = sum(r.lost for r in rows)
    counted_twice = sum(r.counted_twice for r in rows)
    fuzz_cases = sum(r.fuzz_cases for r in rows)
    fuzz_5xx = sum(r.fuzz_5xx for r in rows)
    print(
        f"faults={scenarios} survived={max(survived, 0)} lost={lost} dup_counted={counted_twice} "
        f"fuzz_cases={fuzz_cases} fuzz_5xx={fuzz_5xx}"
    )
    sys.exit(0 if code == 0 and survived == scenarios else 1)


if __name__ == "__main__":
    main()
