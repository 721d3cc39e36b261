"""Shared fixtures. Integration tests (marked `integration`) get the real local stack."""

from __future__ import annotations

import os
import tempfile
import uuid

import pytest

# Importing Airflow (the DAG and plugin tests do) creates $AIRFLOW_HOME; keep it out of ~.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="closeloop-airflow-home-"))


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name no other test uses: for topics, consumer groups, buckets, models."""
    return f"test-{request.node.name[:30].lower().replace('_', '-')}-{uuid.uuid4().hex[:8]}"
