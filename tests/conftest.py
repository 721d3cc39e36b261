"""Shared fixtures. Integration tests (marked `integration`) get the real local stack."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name no other test uses: for topics, consumer groups, buckets, models."""
    return f"test-{request.node.name[:30].lower().replace('_', '-')}-{uuid.uuid4().hex[:8]}"
