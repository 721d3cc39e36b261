"""The labeled examples the lake keeps: each first label that could be scored, once."""

from __future__ import annotations

__all__ = ["lake_insert"]


def lake_insert() -> str:
    return """
INSERT INTO lake_sink
SELECT pid, model_version, task, inputs, output, ground_truth, source,
       -- Plain timestamps: a sink takes at most one time attribute.
       prediction_ts, CAST(rowtime AS TIMESTAMP(3)),
       model_name, DATE_FORMAT(rowtime, 'yyyy-MM-dd')
FROM paired
WHERE labeled AND field IS NULL"""
