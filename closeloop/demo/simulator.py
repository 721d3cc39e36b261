"""Traffic for the demo: concurrent clients calling the gateway, and users who answer some of the time, later.

Each client sends single predictions at its share of the rate, drawn from a
pool of labeled rows; from ``drift_start_s`` on, the rows are drifted (see
``training.usecases.digits.drift``). A share of the predictions
(``feedback_coverage``) gets its ground truth back after a random delay, as
users correcting a result would.
Everything random comes from one seed, so a run can be told again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pandas as pd

__all__ = ["Request", "TrafficPlan", "TrafficSimulator", "TrafficStats", "TrafficThread", "plan_requests"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrafficPlan:
    rate_per_s: float = 20.0
    clients: int = 4
    feedback_coverage: float = 0.8
    feedback_delay_s: tuple[float, float] = (1.0, 4.0)
    drift_start_s: float | None = 60.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.clients < 1:
            raise ValueError("rate_per_s must be positive and clients at least 1")
        if not 0.0 <= self.feedback_coverage <= 1.0:
            raise ValueError(f"feedback_coverage must be in [0, 1], got {self.feedback_coverage}")
        low, high = self.feedback_delay_s
        if not 0.0 <= low <= high:
            raise ValueError(f"feedback_delay_s must be (low, high) with 0 <= low <= high, got {(low, high)}")


@dataclass(frozen=True)
class Request:
    """One planned prediction: when (s from the start), which row, and whether and when feedback follows."""

    at_s: float
    row: int
    drifted: bool
    feedback_after_s: float | None


def plan_requests(plan: TrafficPlan, rows: int, duration_s: float) -> list[Request]:
    """Every request of a run, in time order; the same plan always gives the same list."""
    rng = np.random.default_rng(plan.seed)
    count = int(duration_s * plan.rate_per_s)
    times = np.arange(count) / plan.rate_per_s
    picks = rng.integers(0, rows, count)
    answered = rng.random(count) < plan.feedback_coverage
    delays = rng.uniform(*plan.feedback_delay_s, count)
    return [
        Request(
            at_s=float(t),
            row=int(r),
            drifted=plan.drift_start_s is not None and t >= plan.drift_start_s,
            feedback_after_s=float(d) if a else None,
        )
        for t, r, a, d in zip(times, picks, answered, delays, strict=True)
    ]


@dataclass
class TrafficStats:
    predictions: int = 0
    feedback: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    #: (seconds from the start, whether the served output was right) per prediction that got an answer.
    outcomes: list[tuple[float, bool]] = field(default_factory=list)
    served_versions: Counter[str] = field(default_factory=Counter)


class TrafficSimulator:
    """Plays a ``TrafficPlan`` against a gateway.

    ``clean`` and ``drifted`` hold the same rows (features and ``target``), the
    second drifted; ``on_prediction`` sees every served response.
    """

    def __init__(
        self,
        gateway_url: str,
        model_name: str,
        clean: pd.DataFrame,
        drifted: pd.DataFrame,
        plan: TrafficPlan,
        *,
        features: list[str],
        target: str = "target",
        api_key: str | None = None,
        on_prediction: Callable[[float, dict[str, Any]], None] | None = None,
    ) -> None:
        if len(clean) != len(drifted):
            raise ValueError("clean and drifted must hold the same rows")
        self._url = gateway_url.rstrip("/")
        self._model = model_name
        self._inputs = {
            False: clean[features].to_dict("records"),
            True: drifted[features].to_dict("records"),
        }
        self._truths = clean[target].tolist()
        self._plan = plan
        self._headers = {"X-API-Key": api_key} if api_key else {}
        self._on_prediction = on_prediction
        self.stats = TrafficStats()

    async def run(self, duration_s: float, stop: asyncio.Event | None = None) -> TrafficStats:
        requests = plan_requests(self._plan, len(self._truths), duration_s)
        lanes = [requests[i :: self._plan.clients] for i in range(self._plan.clients)]
        stop = stop or asyncio.Event()
        started = time.monotonic()
        # Idle connections expire well before any server closes them (uvicorn's
        # default is 5 s, httpx's too): reusing one the server is closing fails.
        limits = httpx.Limits(max_connections=self._plan.clients * 2, keepalive_expiry=2.0)
        async with httpx.AsyncClient(
            base_url=self._url, headers=self._headers, limits=limits, timeout=10
        ) as http:
            pending: set[asyncio.Task[None]] = set()
            await asyncio.gather(*(self._client(http, lane, started, stop, pending) for lane in lanes))
            if pending:
                await asyncio.wait(pending, timeout=max(self._plan.feedback_delay_s) + 10)
        return self.stats

    async def _client(
        self,
        http: httpx.AsyncClient,
        lane: list[Request],
        started: float,
        stop: asyncio.Event,
        pending: set[asyncio.Task[None]],
    ) -> None:
        for request in lane:
            wait = started + request.at_s - time.monotonic()
            if wait > 0:
                # Sleeps until the request is due, or wakes early to stop.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                return
            served = await self._predict(http, request)
            if served is None or request.feedback_after_s is None:
                continue
            task = asyncio.create_task(self._answer(http, request, served))
            pending.add(task)
            task.add_done_callback(pending.discard)

    async def _predict(self, http: httpx.AsyncClient, request: Request) -> dict[str, Any] | None:
        body = {"inputs": self._inputs[request.drifted][request.row]}
        try:
            response = await http.post(f"/v1/models/{self._model}/predict", json=body)
        except httpx.HTTPError as exc:
            self.stats.failures[type(exc).__name__] += 1
            return None
        if response.status_code != 200:
            self.stats.failures[f"predict {response.status_code}"] += 1
            return None
        served = response.json()
        self.stats.predictions += 1
        self.stats.served_versions[served["model_version"]] += 1
        if self._on_prediction is not None:
            self._on_prediction(request.at_s, served)
        return served

    async def _answer(self, http: httpx.AsyncClient, request: Request, served: dict[str, Any]) -> None:
        await asyncio.sleep(request.feedback_after_s or 0.0)
        truth = self._truths[request.row]
        body = {"prediction_id": served["prediction_id"], "ground_truth": truth, "model_name": self._model}
        try:
            response = await http.post("/v1/feedback", json=body)
        except httpx.HTTPError as exc:
            self.stats.failures[type(exc).__name__] += 1
            return
        if response.status_code != 202:
            self.stats.failures[f"feedback {response.status_code}"] += 1
            return
        self.stats.feedback += 1
        self.stats.outcomes.append((request.at_s, served["output"] == truth))


class TrafficThread(threading.Thread):
    """The simulator on an event loop of its own, stoppable from the main thread."""

    def __init__(self, simulator: TrafficSimulator, duration_s: float) -> None:
        super().__init__(name="demo-traffic", daemon=True)
        self._simulator = simulator
        self._duration_s = duration_s
        self._loop = asyncio.new_event_loop()
        self._halt: asyncio.Event | None = None
        self.stats: TrafficStats = simulator.stats

    def run(self) -> None:
        async def play() -> TrafficStats:
            self._halt = asyncio.Event()
            return await self._simulator.run(self._duration_s, self._halt)

        self.stats = self._loop.run_until_complete(play())

    def stop(self) -> None:
        if self._halt is not None and self.is_alive():
            self._loop.call_soon_threadsafe(self._halt.set)
        self.join(timeout=30)
