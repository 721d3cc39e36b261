"""retrain_<name> end to end for the use cases of raw inputs: a model that a drift broke, retrained on the
drifted feedback and promoted.

The model is served from what MLflow saved (skops, trusting the use case's
own estimator class), and the gate compares the use case's primary metric,
whichever way is better.
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow import MlflowClient

from closeloop.config import Settings
from tests.integration.training.conftest import DagsTest, register_clean_champion
from tests.integration.training.lake_rows import write_labeled
from training.promotion import CHAMPION, PREVIOUS, alias_version
from training.usecases import UseCase, get_use_case


def _score(use_case: UseCase, model_uri: str, rows: pd.DataFrame) -> float:
    """The primary metric of the registered ``model_uri`` on ``rows``, loaded as the gateway loads it."""
    return use_case.evaluate(mlflow.pyfunc.load_model(model_uri), rows)[use_case.primary_metric]


@pytest.mark.parametrize(
    ("name", "kind", "broken"),
    # The bar for a drift that visibly degrades live quality.
    [("ocr", "blur", 0.3), ("speech", "noise", 0.3), ("shapes", "clutter", 0.6)],
)
def test_a_model_retrained_on_drifted_feedback_is_promoted(
    settings: Settings, dags_test: DagsTest, lake_prefix: str, name: str, kind: str, broken: float
) -> None:
    use_case = get_use_case(name)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = MlflowClient(settings.mlflow_tracking_uri)
    clean = register_clean_champion(settings, name)
    base = use_case.base_data()
    feedback = use_case.drift(base.train.sample(400, random_state=7), kind, 1.0, seed=7)
    # What the clean model made of the inputs is not what the retrain learns from: the corrections are.
    write_labeled(settings, use_case, feedback, [""] * len(feedback), prefix=lake_prefix)

    dags_test(f"retrain_{name}", {"window_days": 1}, lake_prefix=lake_prefix)

    champion = alias_version(client, use_case.model_name, CHAMPION)
    assert champion is not None and int(champion) > int(clean)
    assert alias_version(client, use_case.model_name, PREVIOUS) == clean
    tags = client.get_model_version(use_case.model_name, champion).tags
    assert tags["closeloop.gate.passed"] == "true", tags["closeloop.gate.reason"]
    challenger = float(tags["closeloop.gate.challenger_holdout"])
    incumbent = float(tags["closeloop.gate.champion_holdout"])
    assert use_case.meets(challenger, incumbent) and challenger != incumbent, tags

    drifted = use_case.drift(base.test.head(100), kind, 1.0, seed=1)
    before = _score(use_case, f"models:/{use_case.model_name}/{clean}", drifted)
    after = _score(use_case, f"models:/{use_case.model_name}@{CHAMPION}", drifted)
    assert use_case.recovery_threshold is not None
    assert not use_case.meets(before, broken) and use_case.meets(after, use_case.recovery_threshold), (
        before,
        after,
    )
