"""The demo's traffic against the real gateway: predictions served, feedback accepted, drift hurting."""

from __future__ import annotations

import asyncio

import httpx

from closeloop.config import Settings
from closeloop.demo.simulator import TrafficPlan, TrafficSimulator
from closeloop.stack.manager import LocalStack
from tests.integration.registry_models import register_digits
from tests.waiting import NotYet, eventually
from training.usecases import get_use_case
from training.usecases.digits.drift import drift_frame


def test_simulated_clients_predict_and_answer(
    settings: Settings, stack: LocalStack, unique_name: str
) -> None:
    version = register_digits(settings.mlflow_tracking_uri, unique_name)
    gateway = stack.services["gateway"]
    digits = get_use_case("digits")
    rows = digits.base_data().test
    simulator = TrafficSimulator(
        gateway.url,
        unique_name,
        rows,
        drift_frame(rows, "thickness", 1.0),
        TrafficPlan(
            rate_per_s=40, clients=4, feedback_coverage=0.5, feedback_delay_s=(0.1, 0.5), drift_start_s=5
        ),
        features=digits.features(),
    )

    @eventually(timeout=120, interval=1)
    def served() -> None:
        # The gateway loads a new model on its first request; on a busy machine that
        # takes longer than httpx's default 5 s read timeout.
        response = httpx.post(
            f"{gateway.url}/v1/models/{unique_name}/predict",
            json={"inputs": rows[digits.features()].iloc[0].to_dict()},
            timeout=90,
        )
        if response.status_code != 200:
            raise NotYet(response.text)

    served()
    stats = asyncio.run(simulator.run(10))

    assert not stats.failures, stats.failures
    assert stats.predictions == 400
    assert stats.served_versions == {version: 400}
    assert 150 < stats.feedback < 250
    before = [ok for at, ok in stats.outcomes if at < 5]
    after = [ok for at, ok in stats.outcomes if at >= 5]
    # The model was trained on 1000 clean rows: it does well on clean digits, badly on thick ones.
    assert sum(before) / len(before) > 0.85
    assert sum(after) / len(after) < 0.7
