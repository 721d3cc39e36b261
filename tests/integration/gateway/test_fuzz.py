"""The gateway fuzzed from its own OpenAPI schema (schemathesis): no 5xx, and every 4xx names what is wrong.

Positive cases (what the schema allows) and negative ones (what it does not),
against a scikit-learn model and a pyfunc one. The gateway publishes to a
private broker: fuzzed alerts must not reach the shared stack's retrains.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from mlflow import MlflowClient
from schemathesis import GenerationMode

from closeloop.config import Settings
from closeloop.stack.manager import LocalStack
from tests.faults import FaultRecord, report
from tests.integration.gateway.conftest import gateway_app, gateway_settings, serve, wait_for_model
from tests.integration.registry_models import register_halving

#: Cases per operation and generation mode: a bounded budget for `make test`.
EXAMPLES = 40


def names_the_problem(response: Any) -> str | None:
    """Why a 4xx body fails to say what is wrong, or None if it does."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return "not JSON"
    detail, message = body.get("detail"), body.get("message")
    if response.status_code == 422:
        if not isinstance(detail, list) or not detail or not all(e.get("loc") for e in detail):
            return "a 422 without a located error"
        field = ".".join(str(p) for p in detail[0]["loc"])
        if not (isinstance(message, str) and message.startswith(f"{field}: ")):
            return f"a 422 whose message does not start with the field {field!r}"
        return None
    text = message if isinstance(message, str) else detail
    return None if isinstance(text, str) and text.strip() else "a 4xx without a reason"


def fuzz_operation(
    operation: Any, url: str, mode: GenerationMode, path_parameters: dict[str, Any] | None, log: list[str]
) -> int:
    calls = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        response = case.call(base_url=url, timeout=30)
        text = response.content[:300].decode(errors="replace")
        label = f"{case.method} {case.formatted_path} ({mode}): {response.status_code} {text}"
        assert response.status_code < 500, label
        if response.status_code >= 400:
            problem = names_the_problem(response)
            assert problem is None, f"{problem}: {label}"
        log.append(label)

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE, "every operation has valid requests"
        # Nothing to get wrong (GET /healthz has no parameters): no negative case exists.
    return calls


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)


def instances_for(features: list[str], *, negative: bool) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Inputs shaped like the model's: mostly its features, each a number or something else, some missing
    or extra. ``negative``: whether negative numbers are valid input (the halving model fails on them
    by design, a model error and a 500)."""
    numbers = st.floats(min_value=-1e6 if negative else 0, max_value=1e6)
    others = values if negative else values.filter(lambda v: not (isinstance(v, int | float) and v < 0))
    instance = st.fixed_dictionaries(
        {f: st.one_of(numbers, numbers, numbers, others) for f in features},
    ).flatmap(
        lambda row: st.sets(st.sampled_from(sorted(row)), max_size=2).flatmap(
            lambda dropped: st.dictionaries(st.text(max_size=6), others, max_size=1).map(
                lambda extra: {k: v for k, v in row.items() if k not in dropped} | extra
            )
        )
    )
    return st.lists(st.one_of(instance, st.just(dict.fromkeys(features, 1.0))), min_size=1, max_size=4)


def fuzz_predictions(
    url: str, model: str, features: list[str], log: list[str], *, model_fails_below_zero: bool = False
) -> int:
    calls = 0

    @settings(
        max_examples=EXAMPLES * 2, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(instances=instances_for(features, negative=model_fails_below_zero is False), single=st.booleans())
    def run(instances: list[dict[str, Any]], single: bool) -> None:
        nonlocal calls
        calls += 1
        body = {"inputs": instances[0]} if single else {"instances": instances}
        content = json.dumps(body, allow_nan=True)  # NaN and Infinity too, as some clients send
        response = httpx.post(
            f"{url}/v1/models/{model}/predict",
            content=content,
            headers={"content-type": "application/json"},
            timeout=30,
        )
        label = (
            f"POST /v1/models/{model}/predict (model-shaped): {response.status_code} {response.text[:300]}"
        )
        assert response.status_code < 500, label
        if response.status_code >= 400:
            problem = names_the_problem(response)
            assert problem is None, f"{problem}: {label}"
        log.append(label)

    run()
    return calls


def test_the_gateway_answers_every_fuzzed_request_without_5xx_naming_what_is_wrong(
    private_stack: LocalStack,
    settings: Settings,
    digits_model: tuple[str, str],
    unique_name: str,
    tmp_path: Path,
) -> None:
    private_stack.up(["kafka"])
    digits, version = digits_model
    halving = f"{unique_name}-halving"
    halving_version = register_halving(settings.mlflow_tracking_uri, halving)
    config = gateway_settings(
        settings,
        tmp_path / "gateway",
        kafka_bootstrap=private_stack.settings.kafka_bootstrap,
        models=[digits, halving],
        max_request_bytes=256 * 1024,
    )
    log: list[str] = []
    try:
        with serve(gateway_app(config)) as url:
            get: Callable[[str], httpx.Response] = lambda path: httpx.get(f"{url}{path}", timeout=10)  # noqa: E731
            wait_for_model(get, digits, version)
            wait_for_model(get, halving, halving_version)
            spec = copy.deepcopy(httpx.get(f"{url}/openapi.json").json())
            schema = schemathesis.openapi.from_dict(spec)
            total = 0
            for result in schema.get_all_operations():
                operation = result.ok()
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    models = [digits, halving] if "{name}" in operation.path else [None]
                    for model in models:
                        params = {"name": model} if model else None
                        total += fuzz_operation(operation, url, mode, params, log)
            for model in (digits, halving):
                (info,) = [m for m in get("/v1/models").json() if m["name"] == model]
                features = [f"pixel_{i}" for i in range(info["features"])] if model == digits else ["x"]
                total += fuzz_predictions(url, model, features, log, model_fails_below_zero=model == halving)
            assert get("/healthz").json() == {"status": "ok"}, "the gateway keeps running"
    finally:
        MlflowClient(settings.mlflow_tracking_uri).delete_registered_model(halving)
    report(
        FaultRecord(
            scenario="gateway fuzzed from its OpenAPI schema",
            unit="requests",
            sent=total,
            acknowledged=total,
            found=total,
            lost=0,
            fuzz_cases=total,
            fuzz_5xx=sum(1 for line in log if re.search(r": 5\d\d ", line)),
        )
    )
    assert total >= 300, f"only {total} fuzzed requests"
    predict = {line.split(": ")[1][:3] for line in log if "/predict" in line}
    assert {"200", "422"} <= predict, f"predictions reached only {predict}: the model paths went untried"
