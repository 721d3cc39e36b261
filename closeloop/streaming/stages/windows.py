"""Windowed metrics per model version, from one row of facts per prediction and per feedback.

Every aggregate here merges (sums, ``latency_sketch``, ``sum_map``), so the
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

__all__ = ["facts_view", "metrics_insert", "tumbling_view", "window_aggregates"]


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


# The sums of a window; the sliding windows add up the tumbling windows' sums.
_SUMS = ("predictions", "errors", "feedback", "labeled")
_SUMMED = ", ".join(f"SUM({name}) AS {name}" for name in _SUMS)


def tumbling_view(s: FeedbackJobSettings) -> str:
    """The tumbling windows' sums per model version, kept as a view: the sliding windows add them up.

    ``window_time`` is their time attribute; their bounds are renamed, as HOP adds its own.
    """
    return f"""
CREATE TEMPORARY VIEW tumbling_sums AS
SELECT window_start AS tumble_start, window_end AS tumble_end, window_time,
    model_name, model_version, task,
    {_SUMMED},
    latency_sketch(latency_ms) AS latency,
    sum_map(stats) AS totals,
    sum_map(bins) AS bins
FROM TABLE(TUMBLE(TABLE facts, DESCRIPTOR(rowtime), {interval(s.window_s)}))
GROUP BY window_start, window_end, window_time, model_name, model_version, task"""


def window_aggregates(s: FeedbackJobSettings) -> dict[str, str]:
    """Each window kind's sums per model version: what ``metrics_event`` turns into a metrics event.

    A sliding window is a whole number of tumbling ones (the settings see to it), and a
    tumbling window's rows are in the sliding windows its ``window_time`` is in: so the
    sliding windows add up the tumbling windows' sums rather than every row again. Per
    row, the job aggregates once, not twice.
    """
    slide, size = interval(s.window_s), interval(s.sliding_window_s)
    hop = f"HOP(TABLE tumbling_sums, DESCRIPTOR(window_time), {slide}, {size})"
    return {
        "tumbling": f"""
    SELECT tumble_start AS window_start, tumble_end AS window_end, model_name, model_version, task,
        {", ".join(_SUMS)}, latency, totals, bins
    FROM tumbling_sums""",
        "sliding": f"""
    SELECT window_start, window_end, model_name, model_version, task,
        {_SUMMED},
        merge_latency_sketches(latency) AS latency,
        sum_map(totals) AS totals,
        sum_map(bins) AS bins
    FROM TABLE({hop})
    GROUP BY window_start, window_end, model_name, model_version, task""",
    }


def metrics_insert(s: FeedbackJobSettings) -> str:
    """One INSERT for both window kinds (UNION ALL): one Kafka producer, not two."""
    selects = [
        f"""
SELECT model_name, metrics_event(
    model_name, model_version, task, '{kind}', window_start, window_end,
    predictions, errors, feedback, labeled, latency_quantiles(latency), totals, bins)
FROM ({aggregate})"""
        for kind, aggregate in window_aggregates(s).items()
    ]
    return "\nINSERT INTO metrics_sink" + "\nUNION ALL".join(selects)
