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
from tests.integration.streaming.checks import collect, job_for_scenario
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
    # The stack's own feedback job runs on this cluster: PyFlink is loaded already.
    before = _classes_loaded(stack)
    run_job(**job)

    # A metrics event comes out of the Python function that assembles it: PyFlink has run.
    @eventually(timeout=240, interval=2)
    def first_window() -> MetricsEvent:
        for event in collect(settings, topics.metrics, 100):
            if isinstance(event, MetricsEvent):
                return event
        raise NotYet("no metrics event yet")

    first_window()
    loaded = _classes_loaded(stack) - before
    assert loaded < OWN_CLASSES, f"the job loaded {loaded} classes of its own"
