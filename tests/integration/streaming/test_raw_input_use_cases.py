"""OCR, speech and shapes through the gateway and the feedback job: live quality as the plug-in scores it.

Each use case's clean champion serves a mix of clean and drifted examples
through an in-process gateway on the test's own topics; each prediction gets
its ground truth through the feedback API. Every tumbling window of each
model must hold exactly the task plug-in's metrics (CER and WER, precision
and recall) of the outputs the gateway answered with, for the examples whose
feedback falls in that window (and count the predictions made in it); and drift is measured on the numbers the
model computed from its raw inputs, never on the raw input.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient

from closeloop.config import Settings, Topics
from closeloop.events import FeedbackEvent, MetricsEvent, PredictionEvent
from closeloop.tasks import get_task
from tests.integration.gateway.conftest import (
    client_for,  # noqa: F401 (a fixture)
    wait_for_model,
)
from tests.integration.streaming import scenario
from tests.integration.streaming.checks import collect
from tests.integration.training.conftest import register_clean_champion
from tests.waiting import NotYet, eventually
from training.usecases import TARGET, get_use_case

USE_CASES = {"ocr": "blur", "speech": "noise", "shapes": "clutter"}
WINDOW_S = 5
#: Examples per use case: half clean, half drifted, so that the error rates are neither 0 nor 1.
EXAMPLES = 16


def _examples(name: str, kind: str) -> pd.DataFrame:
    use_case = get_use_case(name)
    rows = use_case.base_data().test.head(EXAMPLES)
    half = EXAMPLES // 2
    return pd.concat(
        [rows.iloc[:half], use_case.drift(rows.iloc[half:], kind, 1.0, seed=5)], ignore_index=True
    )


def test_live_quality_of_raw_inputs_is_the_plug_ins_on_what_the_gateway_answered(
    settings: Settings,
    topics: Topics,
    send: Callable,
    run_job: Callable,
    client_for: Callable[..., TestClient],  # noqa: F811
) -> None:
    versions = {name: register_clean_champion(settings, name) for name in USE_CASES}
    models = {get_use_case(name).model_name: name for name in USE_CASES}
    run_job(window_s=WINDOW_S, sliding_window_s=2 * WINDOW_S, label_delay_s=30, out_of_orderness_s=1)
    prefix = topics.predictions.rsplit(".", 1)[0]
    client = client_for(models=list(models), topic_prefix=prefix)
    for model_name, name in models.items():
        wait_for_model(client.get, model_name, versions[name])

    # prediction id -> (model, output, truth)
    answered: dict[str, tuple[str, Any, Any]] = {}
    for model_name, name in models.items():
        use_case = get_use_case(name)
        for row in _examples(name, USE_CASES[name]).to_dict("records"):
            served = client.post(
                f"/v1/models/{model_name}/predict", json={"inputs": {f: row[f] for f in use_case.features()}}
            )
            assert served.status_code == 200, served.text
            body = served.json()
            assert body["model_version"] == versions[name]
            answered[body["prediction_id"]] = (model_name, body["output"], row[TARGET])
    feedback = [{"prediction_id": pid, "ground_truth": truth} for pid, (_, _, truth) in answered.items()]
    assert client.post("/v1/feedback", json=feedback).status_code == 202
    # Far after everything: both sources' watermarks close every window.
    flush_prediction, flush_feedback = scenario.flush_messages(
        datetime.now(UTC) + timedelta(seconds=120), "flush"
    )
    send(topics.predictions, [flush_prediction])
    send(topics.feedback, [flush_feedback])

    # Which window each prediction fell in, and each label: a label counts at its feedback's
    # time, which may be a window later than its prediction's on a slow machine.
    def window_of(events: list[Any], kind: type) -> dict[str, float]:
        return {
            e.prediction_id: math.floor(e.ts.timestamp() / WINDOW_S) * WINDOW_S
            for e in events
            if isinstance(e, kind) and e.prediction_id in answered
        }

    starts = window_of(collect(settings, topics.predictions, len(answered) + 1), PredictionEvent)
    label_starts = window_of(collect(settings, topics.feedback, len(answered) + 1), FeedbackEvent)
    assert set(starts) == set(label_starts) == set(answered)
    predicted = Counter((model_name, starts[pid]) for pid, (model_name, _, _) in answered.items())
    expected: dict[tuple[str, float], tuple[list, list]] = defaultdict(lambda: ([], []))
    for pid, (model_name, output, truth) in answered.items():
        outputs, truths = expected[model_name, label_starts[pid]]
        outputs.append(output)
        truths.append(truth)

    @eventually(timeout=240, interval=2)
    def windows() -> dict[tuple[str, float], MetricsEvent]:
        events = [
            e
            for e in collect(settings, topics.metrics, 100)
            if isinstance(e, MetricsEvent) and e.model_name in models and e.window.kind == "tumbling"
        ]
        found = {(e.model_name, e.window.start.timestamp()): e for e in events}
        labeled = sum(e.labeled for e in found.values())
        if labeled < len(answered):
            raise NotYet(f"{labeled} of {len(answered)} predictions labeled in {len(found)} windows")
        return found

    found = windows()
    assert set(found) == set(predicted) | set(expected)
    for key, event in found.items():
        name = models[key[0]]
        use_case = get_use_case(name)
        assert (event.predictions, event.model_version) == (predicted.get(key, 0), versions[name]), key
        if predicted.get(key):
            # Drift of the monitoring numbers, not of the image or the audio.
            assert set(event.drift) <= set(use_case.monitored()) and event.drift, (key, sorted(event.drift))
        outputs, truths = expected.get(key, ([], []))
        assert event.labeled == len(outputs), key
        if not outputs:
            continue
        want = get_task(use_case.task).metrics(outputs, truths)
        assert event.quality.keys() == want.keys(), key
        for metric, value in want.items():
            assert math.isclose(event.quality[metric], value, abs_tol=1e-9), (
                key,
                metric,
                event.quality,
                want,
            )
    # The examples were chosen to be partly wrong: the error rates are not trivially 0 or 1.
    for model_name, name in models.items():
        metric = get_use_case(name).primary_metric
        values = [found[key].quality[metric] for key in expected if key[0] == model_name]
        assert any(0 < v < 1 for v in values), (model_name, values)
