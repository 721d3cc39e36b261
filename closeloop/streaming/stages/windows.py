"""Windowed metrics per model version, from one row of facts per prediction and per feedback.

Every aggregate here merges (sums, ``latency_quantiles``, ``sum_map``), so the
planner aggregates each slice where it is made and ships partial results, not
rows; a window's state is a few numbers, the latency sketch's bucket counts
(closeloop.monitoring.latency), the statistics' keys and the drift bins'
counts, whatever the traffic. ``PERCENTILE`` would be exact but keeps every
distinct latency, a RocksDB map entry each: a fifth of the job's CPU, and
state that grows with the traffic. Python runs once per window, in
``metrics_event`` (closeloop.streaming.udfs), to turn the sums into metrics.
"""

from __future__ import annotations

from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.stages.literals import interval, quote

__all__ = ["facts_view", "metrics_insert", "window_aggregates"]


def facts_view(s: FeedbackJobSettings) -> str:
    per_mille = round(s.drift_sample_rate * 1000)
    sampled = "TRUE" if per_mille >= 1000 else f"MOD(ABS(HASH_CODE(pid)), 1000) < {per_mille}"
    profiles = quote(f"s3://{s.lake_bucket}/{s.profiles_prefix.strip('/')}")
    return f"""
CREATE TEMPORARY VIEW facts AS
SELECT model_name, model_version, task,
    CASE WHEN kind = 'prediction' THEN 1 ELSE 0 END AS predictions,
    CASE WHEN kind = 'prediction' AND error IS NOT NULL THEN 1 ELSE 0 END AS errors,
    CASE WHEN kind = 'feedback' THEN 1 ELSE 0 END AS feedback,
    -- A label taken back (pair_join's retraction) counts -1, its statistics negated.
    CASE WHEN labeled THEN 1 WHEN kind = 'retraction' THEN -1 ELSE 0 END AS labeled,
    latency_ms,
    -- The prediction's bin in each profiled column of its version's reference profile: of
    -- the numbers the model computed from a raw input, or else of the inputs.
    CASE WHEN kind = 'prediction' AND {sampled} THEN drift_bins(
        {profiles}, {s.profile_refresh_s}, model_name, model_version, COALESCE(features, inputs),
        CASE WHEN error IS NULL THEN output END) END AS bins,
    CASE WHEN field IS NULL THEN stats END AS stats,
    rowtime
FROM paired
WHERE kind <> 'dead_letter'"""


def _windows(s: FeedbackJobSettings) -> dict[str, str]:
    return {
        "tumbling": f"TUMBLE(TABLE facts, DESCRIPTOR(rowtime), {interval(s.window_s)})",
        "sliding": (
            f"HOP(TABLE facts, DESCRIPTOR(rowtime), {interval(s.window_s)}, {interval(s.sliding_window_s)})"
        ),
    }


def window_aggregates(s: FeedbackJobSettings) -> dict[str, str]:
    """Each window kind's sums per model version: what ``metrics_event`` turns into a metrics event."""
    return {
        kind: f"""
    SELECT window_start, window_end, model_name, model_version, task,
        SUM(predictions) AS predictions, SUM(errors) AS errors,
        SUM(feedback) AS feedback, SUM(labeled) AS labeled,
        latency_quantiles(latency_ms) AS latency,
        sum_map(stats) AS totals,
        sum_map(bins) AS bins
    FROM TABLE({window})
    GROUP BY window_start, window_end, model_name, model_version, task"""
        for kind, window in _windows(s).items()
    }


def metrics_insert(s: FeedbackJobSettings) -> str:
    """One INSERT for both window kinds (UNION ALL): one Kafka producer, not two."""
    selects = [
        f"""
SELECT model_name, metrics_event(
    model_name, model_version, task, '{kind}', window_start, window_end,
    predictions, errors, feedback, labeled, latency, totals, bins)
FROM ({aggregate})"""
        for kind, aggregate in window_aggregates(s).items()
    ]
    return "\nINSERT INTO metrics_sink" + "\nUNION ALL".join(selects)
