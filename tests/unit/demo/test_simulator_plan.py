"""The demo traffic's plan: deterministic, at its rate, drifted from its start, answered at its coverage."""

from __future__ import annotations

import pytest

from closeloop.demo.simulator import TrafficPlan, plan_requests


def test_the_same_seed_gives_the_same_traffic() -> None:
    plan = TrafficPlan(seed=3)
    assert plan_requests(plan, 100, 30) == plan_requests(plan, 100, 30)
    assert plan_requests(plan, 100, 30) != plan_requests(TrafficPlan(seed=4), 100, 30)


def test_rate_drift_start_and_feedback() -> None:
    plan = TrafficPlan(rate_per_s=50, drift_start_s=10, feedback_coverage=0.6, feedback_delay_s=(2, 3))
    requests = plan_requests(plan, 1000, 20)
    assert len(requests) == 1000
    assert [r.at_s for r in requests] == sorted(r.at_s for r in requests)
    assert all(r.drifted == (r.at_s >= 10) for r in requests)
    assert sum(r.drifted for r in requests) == 500
    answered = [r for r in requests if r.feedback_after_s is not None]
    assert 0.55 < len(answered) / len(requests) < 0.65
    assert all(2 <= r.feedback_after_s <= 3 for r in answered)
    assert {r.row for r in requests} <= set(range(1000))
    assert len({r.row for r in requests}) > 500  # drawn from the whole pool


def test_no_drift_start_means_no_drift() -> None:
    assert not any(r.drifted for r in plan_requests(TrafficPlan(drift_start_s=None), 10, 10))


@pytest.mark.parametrize(
    "kwargs",
    [{"rate_per_s": 0}, {"clients": 0}, {"feedback_coverage": 1.5}, {"feedback_delay_s": (3.0, 1.0)}],
)
def test_a_bad_plan_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TrafficPlan(**kwargs)
