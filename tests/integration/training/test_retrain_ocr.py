"""retrain_ocr end to end: an OCR model that blurred scans broke, retrained on their feedback and promoted.

The model is served from what MLflow saved (skops, trusting the use case's
LineReader), and the gate compares character error rates, where lower is better.
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd
from mlflow import MlflowClient

from closeloop.config import Settings
from tests.integration.training.conftest import DagsTest, register_clean_champion
from tests.integration.training.lake_rows import write_labeled
from training.promotion import CHAMPION, PREVIOUS, alias_version
from training.usecases import get_use_case

OCR = get_use_case("ocr")


def _cer(model_uri: str, lines: pd.DataFrame) -> float:
    """The character error rate of the registered model ``model_uri``, loaded as the gateway loads it."""
    return OCR.evaluate(mlflow.pyfunc.load_model(model_uri), lines)["cer"]


def test_an_ocr_model_retrained_on_blurred_lines_is_promoted(
    settings: Settings, dags_test: DagsTest, lake_prefix: str
) -> None:
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = MlflowClient(settings.mlflow_tracking_uri)
    clean = register_clean_champion(settings, "ocr")
    base = OCR.base_data()
    feedback = OCR.drift(base.train.sample(400, random_state=7), "blur", 1.0, seed=7)
    # What the clean model read is not what the retrain learns from: the corrected text is.
    write_labeled(settings, OCR, feedback, [""] * len(feedback), prefix=lake_prefix)

    dags_test("retrain_ocr", {"window_days": 1}, lake_prefix=lake_prefix)

    champion = alias_version(client, OCR.model_name, CHAMPION)
    assert champion is not None and int(champion) > int(clean)
    assert alias_version(client, OCR.model_name, PREVIOUS) == clean
    tags = client.get_model_version(OCR.model_name, champion).tags
    assert tags["closeloop.gate.passed"] == "true", tags["closeloop.gate.reason"]
    assert float(tags["closeloop.gate.challenger_holdout"]) < float(tags["closeloop.gate.champion_holdout"])

    blurred = OCR.drift(base.test.head(100), "blur", 1.0, seed=1)
    before = _cer(f"models:/{OCR.model_name}/{clean}", blurred)
    after = _cer(f"models:/{OCR.model_name}@{CHAMPION}", blurred)
    assert before > 0.3 and after < 0.1, (before, after)
