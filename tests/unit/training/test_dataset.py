"""Building a training dataset from base data and lake feedback."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from closeloop.raw_inputs import RawInputError, is_uri
from training.dataset import DatasetError, build_dataset, feedback_frame
from training.usecases import TARGET, BaseData, UseCase

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class _Toy(UseCase):
    name = "toy"
    task = "classification"
    model_name = "toy"
    description = "two features"
    primary_metric = "accuracy"
    higher_is_better = True
    categorical_output = True
    feature_names = ("a", "b")

    def base_data(self) -> BaseData:
        train = pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1.0, 1.0, 1.0], TARGET: [0, 1, 0]})
        test = pd.DataFrame({"a": [3.0], "b": [0.0], TARGET: [1]})
        return BaseData(train=train, test=test)

    def train(self, frame: pd.DataFrame, params: Mapping[str, Any]) -> Any:
        raise NotImplementedError


def _lake_row(prediction_id: str, minutes: float, inputs: Any, truth: Any, version: str = "1") -> dict:
    return {
        "prediction_id": prediction_id,
        "model_version": version,
        "task": "classification",
        "inputs": json.dumps(inputs),
        "output": json.dumps(0),
        "ground_truth": json.dumps(truth),
        "source": "user",
        "prediction_ts": (T0 + timedelta(minutes=minutes - 1)).replace(tzinfo=None),
        "feedback_ts": (T0 + timedelta(minutes=minutes)).replace(tzinfo=None),
    }


def _lake(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def test_feedback_becomes_feature_rows_one_per_prediction() -> None:
    lake = _lake(
        _lake_row("p2", 2, {"a": 5, "b": 6.5}, 1),
        _lake_row("p1", 1, {"a": 1.5, "b": 2}, 0),
        _lake_row("p1", 3, {"a": 1.5, "b": 2}, 1),  # a second label of p1: the first one counts
    )
    frame, counts = feedback_frame(lake, _Toy())
    assert list(frame["prediction_id"]) == ["p1", "p2"]
    assert list(frame[TARGET]) == [0, 1]
    assert frame[["a", "b"]].to_numpy().tolist() == [[1.5, 2.0], [5.0, 6.5]]
    assert frame["a"].dtype == "float64"
    assert list(frame["output"]) == [0, 0]  # what was served, decoded
    assert counts["duplicates"] == 1


class _RawToy(_Toy):
    name = "raw-toy"
    feature_names = ("image",)
    raw_inputs = True


def test_raw_inputs_stay_strings_and_numbers_are_not_raw_inputs() -> None:
    lake = _lake(
        _lake_row("png", 1, {"image": "iVBORw0KGgo="}, "AB-12"),
        _lake_row("number", 2, {"image": 7}, "7"),
        _lake_row("none", 3, {"image": None}, "x"),
    )
    frame, counts = feedback_frame(lake, _RawToy())
    assert frame[["prediction_id", "image", TARGET]].to_numpy().tolist() == [["png", "iVBORw0KGgo=", "AB-12"]]
    assert counts["unusable"] == 2


def test_raw_inputs_stored_in_minio_are_read_back_and_unreadable_ones_counted() -> None:
    stored = {"s3://lake/raw/toy/2026-03-01/big/image": "iVBORw0KGgoBIG="}

    def fetch(uri: str) -> str:
        if uri not in stored:
            raise RawInputError(f"cannot read the raw input at {uri}")
        return stored[uri]

    lake = _lake(
        _lake_row("big", 1, {"image": "s3://lake/raw/toy/2026-03-01/big/image"}, "AB-12"),
        _lake_row("small", 2, {"image": "iVBORw0KGgo="}, "CD-34"),
        _lake_row("gone", 3, {"image": "s3://lake/raw/toy/2026-03-01/gone/image"}, "EF-56"),
    )
    frame, counts = feedback_frame(lake, _RawToy(), fetch=fetch)
    assert frame[["prediction_id", "image"]].to_numpy().tolist() == [
        ["big", "iVBORw0KGgoBIG="],
        ["small", "iVBORw0KGgo="],
    ]
    assert (counts["unfetched"], counts["unusable"]) == (1, 0)
    # Without a store to read from, a stored input cannot train: its row is counted, not kept as a URI.
    frame, counts = feedback_frame(lake, _RawToy())
    assert list(frame["prediction_id"]) == ["small"] and counts["unfetched"] == 2


def test_uris_of_stored_inputs_are_told_from_the_inputs_themselves() -> None:
    assert is_uri("s3://closeloop-lake/raw/m/2026-03-01/p/audio_wav")
    assert not is_uri("UklGRiQAAABXQVZF") and not is_uri(3) and not is_uri(None)


def test_the_time_window_and_unusable_rows() -> None:
    lake = _lake(
        _lake_row("early", 0, {"a": 1, "b": 1}, 0),
        _lake_row("in", 10, {"a": 1, "b": 1}, 0),
        _lake_row("no-b", 11, {"a": 1}, 0),
        _lake_row("text-b", 12, {"a": 1, "b": "x"}, 0),
        _lake_row("no-truth", 13, {"a": 1, "b": 1}, None),
        _lake_row("late", 60, {"a": 1, "b": 1}, 0),
    )
    frame, counts = feedback_frame(
        lake, _Toy(), start=T0 + timedelta(minutes=5), end=T0 + timedelta(minutes=30)
    )
    assert list(frame["prediction_id"]) == ["in"]
    assert counts["feedback_outside_window"] == 2
    assert counts["unusable"] == 3


def test_the_newest_feedback_is_held_out() -> None:
    lake = _lake(*[_lake_row(f"p{i}", 10 - i, {"a": i, "b": 0}, i % 2) for i in range(10)])
    dataset = build_dataset(_Toy(), lake, holdout_fraction=0.3)
    # p9 is the oldest (minute 1), p0 the newest (minute 10).
    assert sorted(dataset.holdout["prediction_id"]) == ["p0", "p1", "p2"]
    assert len(dataset.train) == 3 + 7
    assert set(dataset.train.columns) == {"a", "b", TARGET}
    assert dataset.test.equals(_Toy().base_data().test)
    assert dataset.counts["feedback_train"] == 7 and dataset.counts["holdout"] == 3


def test_after_an_alert_the_holdout_is_the_newest_of_the_changed_data() -> None:
    lake = _lake(*[_lake_row(f"p{i}", 20 - i, {"a": i, "b": 0}, i % 2) for i in range(20)])
    # The data changed at minute 11: p0..p9 (minutes 20 down to 11) are the changed data.
    dataset = build_dataset(_Toy(), lake, holdout_fraction=0.3, holdout_since=T0 + timedelta(minutes=11))
    assert sorted(dataset.holdout["prediction_id"]) == ["p0", "p1", "p2"]
    # The other seven changed rows train the challenger, with all ten older ones.
    assert dataset.counts["feedback_train"] == 17 and dataset.counts["holdout"] == 3
    # Of all the feedback, the same share would hold out six of the ten changed rows.
    assert build_dataset(_Toy(), lake, holdout_fraction=0.3).counts["holdout"] == 6


def test_an_example_seen_again_trains_once() -> None:
    rows = [_lake_row(f"p{i}", i, {"a": 1.0, "b": 2.0}, 1) for i in range(6)]
    rows += [_lake_row("other-label", 7, {"a": 1.0, "b": 2.0}, 0), _lake_row("new", 8, {"a": 5, "b": 2}, 1)]
    dataset = build_dataset(_Toy(), _lake(*rows), holdout_fraction=0.0)
    # Six times the same inputs and label: one row. The same inputs with another label stay.
    assert dataset.counts["repeated"] == 5 and dataset.counts["feedback_train"] == 3
    feedback = dataset.train.iloc[len(_Toy().base_data().train) :]
    assert feedback.values.tolist() == [[1.0, 2.0, 1], [1.0, 2.0, 0], [5.0, 2.0, 1]]


def test_no_feedback_gives_the_base_data_and_an_empty_holdout() -> None:
    dataset = build_dataset(_Toy(), pd.DataFrame(), holdout_fraction=0.3)
    assert len(dataset.train) == 3
    assert dataset.holdout.empty


def test_a_bad_holdout_fraction_is_refused() -> None:
    with pytest.raises(DatasetError, match="holdout_fraction"):
        build_dataset(_Toy(), pd.DataFrame(), holdout_fraction=1.0)
