"""Reading the lake: one labeled example per prediction."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from closeloop.lake import earliest_labels


def test_a_prediction_keeps_the_label_of_its_earliest_feedback() -> None:
    at = [datetime(2026, 1, 1, 0, 0, s) for s in range(4)]
    rows = pa.table(
        {
            # p1: a label taken back by feedback of an earlier time, written after it;
            # p2: the same row twice (two jobs writing one lake); p3: one label.
            "prediction_id": ["p1", "p2", "p1", "p3", "p2"],
            "ground_truth": ["late", "b", "early", "c", "b"],
            "feedback_ts": pa.array([at[3], at[1], at[2], at[0], at[1]], pa.timestamp("ms")),
        }
    )
    kept = earliest_labels(rows).to_pylist()
    assert sorted((row["prediction_id"], row["ground_truth"]) for row in kept) == [
        ("p1", "early"),
        ("p2", "b"),
        ("p3", "c"),
    ]


def test_an_empty_or_single_row_table_is_kept_as_it_is() -> None:
    empty = pa.table({"prediction_id": pa.array([], pa.string()), "feedback_ts": pa.array([], pa.date32())})
    assert earliest_labels(empty).num_rows == 0
    assert earliest_labels(pa.table({})).num_rows == 0
