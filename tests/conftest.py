"""Shared fixtures. Integration tests (marked `integration`) get the real local stack."""

from __future__ import annotations

import os
import tempfile
import uuid

import pytest

# Importing Airflow (the DAG and plugin tests do) creates $AIRFLOW_HOME; keep it out of ~.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="closeloop-airflow-home-"))

# Retrains the tests start by an alert cannot take params, and the tests send no live traffic
# for a canary's gate or a promotion's watch: on the stack this session starts, they promote
# directly and are not watched. The tests of the canary and the watch ask for them in params.
os.environ.setdefault("CLOSELOOP_RETRAIN_ROLLOUT", "direct")
os.environ.setdefault("CLOSELOOP_PROMOTION_WATCH_MINUTES", "0")
# The demo test's canary is decided sooner than at the stack's 15 s polls.
os.environ.setdefault("CLOSELOOP_LIVE_POLL_S", "2")
# The stack's own streaming job closes a window every 20 s, not every minute: the demo test
# watches three of them settle. Tests that submit a job of their own set its windows.
os.environ.setdefault("CLOSELOOP_WINDOW_S", "20")
os.environ.setdefault("CLOSELOOP_SLIDING_WINDOW_S", "60")
# No DAG file changes under the tests: Airflow's DAG processor parses each every 10 min, not
# every 30 s (2-4 s of a core each time for retrain.py, all through the run). Not once an hour:
# a parse that failed (a timeout at a busy start) would then hide its DAGs from most of the run.
os.environ.setdefault("AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL", "600")


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name no other test uses: for topics, consumer groups, buckets, models."""
    return f"test-{request.node.name[:30].lower().replace('_', '-')}-{uuid.uuid4().hex[:8]}"
