"""A feedback job loads no PyFlink classes of its own: the session cluster survives many submissions.

PyFlink's runtime (flink-python, with its vendored Beam) is in the cluster's
lib/ and Beam loads parent-first. Shipped with each job instead, it went into
the job's class loader, ~4,000 classes and ~25 MB of metaspace per submission,
and that class loader outlived the job: after about fifteen submissions the
TaskManager's metaspace ran out and it died, taking every job with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from closeloop.config import Settings, Topics
from closeloop.events import MetricsEvent
from closeloop.stack.manager import LocalStack
from tests.integration.streaming import scenario
from tests.integration.streaming.checks import collect, job_for_scenario, window_key
from tests.waiting import NotYet, eventually

#: Classes a job may still load for itself: the planner's generated code, reflection accessors.
#: A job that loads PyFlink for itself loads over 4,000.
OWN_CLASSES = 1500


def _classes_loaded(stack: LocalStack) -> int:
    """Classes the TaskManager has loaded since it started, read now from its Prometheus endpoint.

    (Flink's REST API answers metrics from a cache refreshed every 10 s.)
    """
    for target in stack.services["flink"].scrape_targets()["flink"]:
        text = httpx.get(f"http://{target}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            if family.name == "flink_taskmanager_Status_JVM_ClassLoader_ClassesLoaded":
                return int(family.samples[0].value)
    raise AssertionError("no TaskManager reports its loaded classes")


def test_a_job_runs_its_python_functions_on_the_clusters_pyflink(
    settings: Settings,
    stack: LocalStack,
    topics: Topics,
    send: Callable,
    run_job: Callable,
    tmp_path: Path,
) -> None:
    s = scenario.build()
    job = job_for_scenario(settings, topics, tmp_path)
    send(topics.predictions, s.prediction_messages)
    send(topics.feedback, s.feedback_messages)

    def windows_published(jobs: int) -> None:
        """Until each of ``jobs`` jobs has published the first window from its Python function."""

        @eventually(timeout=240, interval=2)
        def published() -> None:
            keys = [
                window_key(e) for e in collect(settings, topics.metrics, 1000) if isinstance(e, MetricsEvent)
            ]
            times = keys.count(min(keys)) if keys else 0
            if times < jobs:
                raise NotYet(f"the first window published {times} times")

        published()

    # A first job makes sure PyFlink has run on this cluster: the stack's own job may
    # not have reached its Python functions yet (just after `closeloop up`, it has not).
    prefix = topics.predictions.rsplit(".", 1)[0]
    run_job(**job, job_name=f"{prefix}-first")
    windows_published(1)
    before = _classes_loaded(stack)
    # The second reads the same topics under another name: its own consumer groups.
    run_job(**job, job_name=f"{prefix}-second")
    windows_published(2)
    loaded = _classes_loaded(stack) - before
    assert loaded < OWN_CLASSES, f"the second job loaded {loaded} classes of its own"
