"""Prometheus' rules and configs, checked by Prometheus' own tools: promtool (rule unit tests,
config check) and amtool. Debian's prometheus and prometheus-alertmanager packages ship both,
and `make setup` installs them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from closeloop.config import PROJECT_ROOT

PROMETHEUS = PROJECT_ROOT / "docker" / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
ALERTMANAGER = PROJECT_ROOT / "docker" / "alertmanager" / "alertmanager.yml"

MODEL = {"model_name": "digits", "model_version": "3", "task": "classification", "window": "tumbling"}


# What CloseloopAccuracyLow fires with at an accuracy of 0.6: the labels and annotations
# the gateway's webhook reads (tests/unit/gateway/test_alertmanager.py sends the same).
ACCURACY_LOW = {
    "exp_labels": {**MODEL, "metric": "accuracy", "severity": "warning", "kind": "quality"},
    "exp_annotations": {
        "summary": "digits v3: live accuracy 0.600 < 0.85",
        "metric": "quality.accuracy",
        "value": "0.6",
        "threshold": "0.85",
    },
}


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not on PATH: `make setup` installs Debian's prometheus packages")
    return found


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    selector = ", ".join(f'{k}="{v}"' for k, v in {**MODEL, **labels}.items())
    return {"series": f"{name}{{{selector}}}", "values": values}


def fresh_windows(steps: int = 40) -> list[dict[str, str]]:
    """A 60 s tumbling window that ends every 10 s scrape (time() in promtool starts at 0)."""
    return [
        series("closeloop_model_window_end_timestamp_seconds", f"0+10x{steps}"),
        series("closeloop_model_window_seconds", f"60x{steps}"),
    ]


def run_rule_tests(tmp_path: Path, tests: list[dict[str, Any]]) -> None:
    spec = {"rule_files": [str(r) for r in RULES], "evaluation_interval": "10s", "tests": tests}
    path = tmp_path / "rules_test.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = subprocess.run([tool("promtool"), "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_files_are_valid() -> None:
    result = subprocess.run(
        [tool("promtool"), "check", "rules", *map(str, RULES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_is_valid(tmp_path: Path) -> None:
    # The config finds rules/ and targets/ beside itself, as the local stack lays it out.
    shutil.copy(PROMETHEUS / "prometheus.yml", tmp_path)
    shutil.copytree(PROMETHEUS / "rules", tmp_path / "rules")
    shutil.copytree(PROMETHEUS / "targets" / "compose", tmp_path / "targets")
    result = subprocess.run(
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["alerting"]["alertmanagers"], "Prometheus sends its alerts nowhere"


def test_alertmanager_config_is_valid_and_routes_to_the_gateway() -> None:
    result = subprocess.run(
        [tool("amtool"), "check-config", str(ALERTMANAGER)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(ALERTMANAGER.read_text())
    receiver = {r["name"]: r for r in config["receivers"]}[config["route"]["receiver"]]
    assert receiver["webhook_configs"][0]["url"].endswith("/v1/alerts/alertmanager")
    assert {"model_name", "model_version"} <= set(config["route"]["group_by"])


def test_low_accuracy_fires_after_a_minute_with_what_the_webhook_needs(tmp_path: Path) -> None:
    run_rule_tests(
        tmp_path,
        [
            {
                "interval": "10s",
                "input_series": [
                    series("closeloop_model_quality", "0.6x40", metric="accuracy"),
                    series("closeloop_model_labeled", "120x40"),
                    *fresh_windows(),
                ],
                "alert_rule_test": [
                    {"eval_time": "30s", "alertname": "CloseloopAccuracyLow", "exp_alerts": []},
                    {
                        "eval_time": "2m",
                        "alertname": "CloseloopAccuracyLow",
                        "exp_alerts": [ACCURACY_LOW],
                    },
                ],
            }
        ],
    )


def test_quality_is_not_judged_on_few_labels_or_stale_windows(tmp_path: Path) -> None:
    run_rule_tests(
        tmp_path,
        [
            {
                "interval": "10s",
                "input_series": [
                    series("closeloop_model_quality", "0.6x40", metric="accuracy"),
                    series("closeloop_model_labeled", "5x40"),
                    *fresh_windows(),
                ],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "CloseloopAccuracyLow", "exp_alerts": []}
                ],
            },
            {
                # The model stopped serving: its last window (ended at 0) stays on
                # the exporter for a while, but older than 4 minutes it no longer counts.
                "interval": "10s",
                "input_series": [
                    series("closeloop_model_quality", "0.6x60", metric="accuracy"),
                    series("closeloop_model_labeled", "120x60"),
                    series("closeloop_model_window_end_timestamp_seconds", "0x60"),
                    series("closeloop_model_window_seconds", "60x60"),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "3m",
                        "alertname": "CloseloopAccuracyLow",
                        "exp_alerts": [ACCURACY_LOW],
                    },
                    {"eval_time": "5m", "alertname": "CloseloopAccuracyLow", "exp_alerts": []},
                ],
            },
        ],
    )


def test_drift_fires_on_the_worst_feature_over_enough_predictions(tmp_path: Path) -> None:
    run_rule_tests(
        tmp_path,
        [
            {
                "interval": "10s",
                "input_series": [
                    series("closeloop_model_drift_psi", "0.05x40", feature="pixel_0"),
                    series("closeloop_model_drift_psi", "1.5x40", feature="pixel_7"),
                    series("closeloop_model_predictions", "400x40"),
                    *fresh_windows(),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "2m",
                        "alertname": "CloseloopInputDrift",
                        "exp_alerts": [
                            {
                                "exp_labels": {**MODEL, "severity": "warning", "kind": "drift"},
                                "exp_annotations": {
                                    "summary": "digits v3: max PSI 1.50 > 0.25",
                                    "metric": "drift.max_psi",
                                    "value": "1.5",
                                    "threshold": "0.25",
                                },
                            }
                        ],
                    }
                ],
            },
            {
                "interval": "10s",
                "input_series": [
                    series("closeloop_model_drift_psi", "1.5x40", feature="pixel_7"),
                    series("closeloop_model_predictions", "100x40"),
                    *fresh_windows(),
                ],
                "alert_rule_test": [
                    {"eval_time": "3m", "alertname": "CloseloopInputDrift", "exp_alerts": []}
                ],
            },
        ],
    )


def test_error_rate_and_latency_fire(tmp_path: Path) -> None:
    run_rule_tests(
        tmp_path,
        [
            {
                "interval": "10s",
                "input_series": [
                    series("closeloop_model_error_rate", "0.2x40"),
                    series("closeloop_model_latency_ms", "400x40", quantile="0.99"),
                    series("closeloop_model_latency_ms", "20x40", quantile="0.5"),
                    series("closeloop_model_predictions", "100x40"),
                    *fresh_windows(),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "2m",
                        "alertname": "CloseloopErrorRateHigh",
                        "exp_alerts": [
                            {
                                "exp_labels": {**MODEL, "severity": "critical", "kind": "error_rate"},
                                "exp_annotations": {
                                    "summary": "digits v3: 20% of predictions failed",
                                    "metric": "error_rate",
                                    "value": "0.2",
                                    "threshold": "0.05",
                                },
                            }
                        ],
                    },
                    {"eval_time": "2m", "alertname": "CloseloopLatencyHigh", "exp_alerts": []},
                    {
                        "eval_time": "4m",
                        "alertname": "CloseloopLatencyHigh",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    **MODEL,
                                    "quantile": "0.99",
                                    "severity": "warning",
                                    "kind": "latency",
                                },
                                "exp_annotations": {
                                    "summary": "digits v3: p99 latency 400 ms > 250 ms",
                                    "metric": "latency_ms.p99",
                                    "value": "400",
                                    "threshold": "250",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    )


def test_a_service_down_for_a_minute_fires(tmp_path: Path) -> None:
    run_rule_tests(
        tmp_path,
        [
            {
                "interval": "10s",
                "input_series": [
                    {"series": 'up{job="gateway", instance="gateway:8000"}', "values": "1 1 0x20"}
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "2m",
                        "alertname": "CloseloopServiceDown",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "job": "gateway",
                                    "instance": "gateway:8000",
                                    "severity": "critical",
                                },
                                "exp_annotations": {
                                    "summary": "gateway at gateway:8000 is down",
                                    "description": "Prometheus has not scraped gateway for a minute.",
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    )


def memory(values: str, job: str = "gateway") -> dict[str, str]:
    return {"series": f'process_resident_memory_bytes{{job="{job}", instance="h:8000"}}', "values": values}


def test_a_gateway_whose_memory_keeps_growing_raises_an_alert_and_a_steady_one_does_not(
    tmp_path: Path,
) -> None:
    mib = 1024 * 1024
    growing = {
        "exp_labels": {"job": "gateway", "instance": "h:8000", "severity": "warning"},
        "exp_annotations": {
            "summary": "gateway at h:8000 keeps growing",
            "description": "Resident memory has risen for 30 minutes "
            "and is on course to pass 2 GiB within 4 hours.",
        },
    }
    run_rule_tests(
        tmp_path,
        [
            {  # 10 MiB a minute from 800 MiB: 2 GiB passed within 4 h
                "interval": "1m",
                "input_series": [memory(f"{800 * mib}+{10 * mib}x120")],
                "alert_rule_test": [
                    {"eval_time": "20m", "alertname": "CloseloopMemoryGrowing", "exp_alerts": []},
                    {"eval_time": "90m", "alertname": "CloseloopMemoryGrowing", "exp_alerts": [growing]},
                ],
            },
            {  # large but flat, and slow growth far from the limit: neither is a leak
                "interval": "1m",
                "input_series": [
                    memory(f"{1800 * mib}x120"),
                    memory(f"{300 * mib}+{100 * 1024}x120", job="metrics-exporter"),
                ],
                "alert_rule_test": [
                    {"eval_time": "90m", "alertname": "CloseloopMemoryGrowing", "exp_alerts": []},
                ],
            },
        ],
    )
