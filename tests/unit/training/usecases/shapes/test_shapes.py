"""The shapes use case: scenes made here, found when clean, missed when drifted, found when retrained."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from closeloop.errors import InputError
from closeloop.tasks import get_task
from training.usecases import TARGET, BaseData
from training.usecases.shapes import ShapesUseCase
from training.usecases.shapes.data import (
    FEATURES,
    GAP,
    LABELS,
    MAX_OBJECTS,
    SIZE,
    STYLE,
    encode_png,
    render_frame,
)
from training.usecases.shapes.drift import DRIFT_KINDS, drift_frame
from training.usecases.shapes.image import MAX_PNG_BYTES, decode
from training.usecases.shapes.monitoring import MONITORING

# The targets: clean, a drift's damage to the base model, and a retrain on drifted feedback.
CLEAN = 0.9
DRIFTED_RECALL = 0.6
RETRAINED = 0.8


@pytest.fixture(scope="module")
def use_case() -> ShapesUseCase:
    return ShapesUseCase()


@pytest.fixture(scope="module")
def base(use_case: ShapesUseCase) -> BaseData:
    return use_case.base_data()


@pytest.fixture(scope="module")
def model(use_case: ShapesUseCase, base: BaseData) -> Any:
    return use_case.train(base.train, {})


@pytest.fixture(scope="module")
def drifted_tests(base: BaseData) -> dict[str, pd.DataFrame]:
    return {kind: drift_frame(base.test, kind, 1.0, seed=1) for kind in DRIFT_KINDS}


def _png(image: Image.Image, format: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return base64.b64encode(buffer.getvalue()).decode()


def test_the_use_case_says_what_it_is(use_case: ShapesUseCase) -> None:
    assert (use_case.name, use_case.task, use_case.model_name) == ("shapes", "detection", "closeloop-shapes")
    assert (use_case.primary_metric, use_case.higher_is_better) == ("recall", True)
    assert use_case.features() == ["image_png"] and use_case.raw_inputs
    assert use_case.monitored() == MONITORING
    assert tuple(use_case.drift_kinds) == ("clutter", "contrast")
    assert use_case.recovery_threshold == 0.8
    with pytest.raises(ValueError, match="unknown training params"):
        use_case.merged_params({"threshold": 0.1})


def test_importing_the_use_case_imports_no_scikit_learn_scipy_or_mlflow() -> None:
    # In a fresh interpreter: this one has imported them all. Parsing a DAG imports every use case.
    script = (
        "import sys, training.usecases.shapes\n"
        "print([m for m in ('sklearn', 'scipy', 'mlflow') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_base_data_is_the_same_every_time_and_lays_shapes_out_apart(
    use_case: ShapesUseCase, base: BaseData
) -> None:
    again = use_case.base_data()
    pd.testing.assert_frame_equal(base.train, again.train)
    pd.testing.assert_frame_equal(base.test, again.test)
    assert (len(base.train), len(base.test)) == (1500, 400)
    assert list(base.train.columns) == [*FEATURES, TARGET]
    counts = base.train[TARGET].map(len)
    assert set(counts) == set(range(MAX_OBJECTS + 1))
    labels = {o["label"] for objects in base.train[TARGET] for o in objects}
    assert labels == set(LABELS)
    for objects in base.train[TARGET].head(200):
        boxes = [o["box"] for o in objects]
        assert all(GAP <= b[0] < b[2] <= SIZE - GAP and GAP <= b[1] < b[3] <= SIZE - GAP for b in boxes)
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a[2] + GAP <= b[0] or b[2] + GAP <= a[0] or a[3] + GAP <= b[1] or b[3] + GAP <= a[1]
    assert decode(base.train[FEATURES[0]].iloc[0]).shape == (SIZE, SIZE)
    # Copies: editing a target does not edit the cached data.
    again.train[TARGET].iloc[0].clear()
    assert use_case.base_data().train[TARGET].iloc[0] == base.train[TARGET].iloc[0] != []


def test_decode_keeps_the_size_and_takes_jpeg() -> None:
    grey = decode(_png(Image.new("L", (50, 30), 255)))
    assert grey.shape == (30, 50)
    assert grey.min() == grey.max() == 1.0
    assert decode(_png(Image.new("RGB", (40, 20), (0, 0, 0)), "JPEG")).shape == (20, 40)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"GIF89a not really").decode(), "cannot be decoded"),
        (base64.b64encode(b"\x89PNG\r\n\x1a\n truncated").decode(), "cannot be decoded"),
        (_png(Image.new("L", (8, 8)), "GIF"), "must be a PNG or JPEG"),
        (base64.b64encode(b"\0" * (MAX_PNG_BYTES + 1)).decode(), "at most"),
        (_png(Image.new("L", (2000, 40))), "a side"),
        (3, "must be a base64 string"),
    ],
)
def test_decode_says_what_is_wrong_with_a_bad_image(value: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        decode(value)


def test_clean_scenes_are_detected_within_the_target(
    use_case: ShapesUseCase, base: BaseData, model: Any
) -> None:
    metrics = use_case.evaluate(model, base.test)
    assert metrics["precision"] >= CLEAN and metrics["recall"] >= CLEAN, metrics
    # The metrics are the task plug-in's on the model's own outputs.
    outputs = use_case.predict(model, base.test)
    assert metrics == get_task("detection").metrics(outputs, list(base.test[TARGET]))


def test_predictions_are_plain_json_values(use_case: ShapesUseCase, base: BaseData, model: Any) -> None:
    outputs = use_case.predict(model, base.test.head(40))
    assert json.loads(json.dumps(outputs)) == outputs
    boxes = [b for scene in outputs for b in scene]
    assert boxes
    for b in boxes:
        assert set(b) == {"box", "label", "score"} and b["label"] in LABELS
        assert type(b["score"]) is float and 0.0 <= b["score"] <= 1.0
        x1, y1, x2, y2 = b["box"]
        assert all(type(v) is int for v in b["box"]) and x1 <= x2 and y1 <= y2


def test_an_empty_scene_has_no_boxes(model: Any) -> None:
    blank = encode_png(Image.new("L", (SIZE, SIZE), 240))
    paper = render_frame([[], []], STYLE, seed=5)[FEATURES[0]].tolist()
    assert model.predict([blank, *paper]) == [[], [], []]


def test_the_signature_mlflow_logs_the_model_with_can_be_inferred(
    use_case: ShapesUseCase, base: BaseData, model: Any
) -> None:
    from mlflow.models import infer_signature

    rows = base.test.head(5)
    signature = infer_signature(rows[FEATURES], use_case.predict(model, rows))
    assert signature.inputs.input_names() == FEATURES


def test_skops_saves_and_loads_the_model_trusting_its_class(base: BaseData, model: Any) -> None:
    from training import import_skops

    import_skops()
    import skops.io

    data = skops.io.dumps(model)
    assert skops.io.get_untrusted_types(data=data) == ["training.usecases.shapes.model.ShapeDetector"]
    loaded = skops.io.loads(data, trusted=["training.usecases.shapes.model.ShapeDetector"])
    images = base.test[FEATURES[0]].head(10)
    assert loaded.predict(images) == model.predict(images)


@pytest.mark.parametrize("kind", DRIFT_KINDS)
def test_each_drift_costs_recall_and_a_retrain_on_drifted_scenes_wins_it_back(
    use_case: ShapesUseCase, base: BaseData, model: Any, drifted_tests: dict[str, pd.DataFrame], kind: str
) -> None:
    drifted_test = drifted_tests[kind]
    assert use_case.evaluate(model, drifted_test)["recall"] < DRIFTED_RECALL
    feedback = drift_frame(base.train.iloc[:600], kind, 1.0, seed=2)
    retrained = use_case.train(pd.concat([base.train, feedback], ignore_index=True), {})
    drifted, clean = use_case.evaluate(retrained, drifted_test), use_case.evaluate(retrained, base.test)
    assert min(drifted.values()) >= RETRAINED, drifted
    assert min(clean.values()) >= CLEAN, clean
    # What the retrain learned: a threshold above the light clutter, or below the faint ink.
    if kind == "clutter":
        assert retrained.threshold_ > model.threshold_
    else:
        assert retrained.threshold_ < model.threshold_


def test_drift_keeps_the_layouts_and_is_reproducible(base: BaseData) -> None:
    rows = base.test.iloc[:30]
    for kind in DRIFT_KINDS:
        first, second = drift_frame(rows, kind, 0.5, seed=3), drift_frame(rows, kind, 0.5, seed=3)
        pd.testing.assert_frame_equal(first, second)
        assert list(first[TARGET]) == list(rows[TARGET]) and list(first.index) == list(rows.index)
        assert (first[FEATURES[0]] != rows[FEATURES[0]]).all()
        assert (drift_frame(rows, kind, 0.5, seed=4)[FEATURES[0]] != first[FEATURES[0]]).all()
        pd.testing.assert_frame_equal(drift_frame(rows, kind, 0.0), rows)
    with pytest.raises(ValueError, match="known kinds: clutter, contrast"):
        drift_frame(rows, "rain")
    for severity in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=">= 0"):
            drift_frame(rows, "clutter", severity)
    with pytest.raises(ValueError, match="draws each layout again"):
        drift_frame(rows[FEATURES], "clutter")


def test_the_use_case_drifts_as_drift_frame_does(use_case: ShapesUseCase, base: BaseData) -> None:
    rows = base.test.iloc[:5]
    pd.testing.assert_frame_equal(
        use_case.drift(rows, "contrast", 0.7, 9), drift_frame(rows, "contrast", 0.7, 9)
    )


def test_monitoring_numbers_move_with_each_drift(
    use_case: ShapesUseCase, base: BaseData, drifted_tests: dict[str, pd.DataFrame]
) -> None:
    clean = use_case.monitoring(base.test.iloc[:100]).mean()
    assert list(clean.index) == MONITORING
    cluttered = use_case.monitoring(drifted_tests["clutter"].iloc[:100]).mean()
    faint = use_case.monitoring(drifted_tests["contrast"].iloc[:100]).mean()
    assert cluttered["edge_density"] > 2 * clean["edge_density"]
    assert cluttered["light_ink_ratio"] > clean["light_ink_ratio"] + 0.02
    assert faint["contrast"] < 0.5 * clean["contrast"]
    assert faint["unevenness"] > 2 * clean["unevenness"]
    assert faint["ink_ratio"] < 0.5 * clean["ink_ratio"]


def test_noise_shows_in_its_number(use_case: ShapesUseCase, base: BaseData) -> None:
    layouts = list(base.test[TARGET].head(20))
    plain = use_case.monitoring(render_frame(layouts, STYLE))
    noisy = use_case.monitoring(render_frame(layouts, STYLE.but(noise=10.0)))
    assert np.isfinite(plain.to_numpy()).all()
    assert noisy["noise"].mean() > 2 * plain["noise"].mean()


def test_the_model_monitors_what_the_use_case_profiles(
    use_case: ShapesUseCase, base: BaseData, model: Any
) -> None:
    rows = base.test.iloc[:5]
    pd.testing.assert_frame_equal(
        model.monitor(rows[FEATURES]), use_case.monitoring(rows).reset_index(drop=True)
    )
    profile = use_case.reference_profile(model, base.test.iloc[:100], "3")
    assert list(profile.features) == MONITORING and profile.output is None


def test_an_image_that_does_not_decode_is_the_inputs_fault_by_its_index(base: BaseData, model: Any) -> None:
    images = [base.test[FEATURES[0]].iloc[0], "not base64!"]
    with pytest.raises(InputError) as caught:
        model.predict(images)
    assert caught.value.field == "1.image_png" and "base64" in caught.value.reason
    with pytest.raises(InputError, match=r"^1\.image_png"):
        model.monitor(pd.DataFrame({FEATURES[0]: images}))
