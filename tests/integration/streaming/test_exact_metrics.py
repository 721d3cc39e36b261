"""The feedback job's numbers, checked one by one against an offline recomputation.

Counts must match exactly and rates to 1e-9, for every tumbling and sliding
window of every model, with out-of-order, duplicate, late, failed and
malformed events in the stream.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from closeloop.config import Settings, Topics
from closeloop.events import AlertEvent, DeadLetterEvent, MetricsEvent
from closeloop.lake import lake_dataset, read_labeled
from tests.integration.streaming import scenario
from tests.integration.streaming.checks import (
    as_label,
    assert_window_matches,
    collect,
    dead_letter_counts,
    expected_alert_ids,
    job_for_scenario,
    window_key,
)
from tests.waiting import NotYet, eventually


def test_every_window_matches_the_offline_recomputation(
    settings: Settings, topics: Topics, send: Callable, run_job: Callable, tmp_path: Path
) -> None:
    s = scenario.build()
    expected = scenario.expected_metrics(s)
    job = job_for_scenario(settings, topics, tmp_path)
    send(topics.predictions, s.prediction_messages)
    send(topics.feedback, s.feedback_messages)
    run_job(**job)

    @eventually(timeout=240, interval=2)
    def all_windows() -> list[MetricsEvent]:
        events = [e for e in collect(settings, topics.metrics, 1000) if isinstance(e, MetricsEvent)]
        seen = {window_key(e) for e in events}
        if missing := set(expected) - seen:
            raise NotYet(f"{len(missing)} of {len(expected)} windows missing, e.g. {sorted(missing)[:2]}")
        return events

    all_windows()
    # Phase two: events for windows that have closed. They must change nothing.
    send(topics.predictions, [*s.late_messages, s.last_flush[0]])
    send(topics.feedback, [s.last_flush[1]])

    @eventually(timeout=120, interval=2)
    def past_the_late_events() -> list[MetricsEvent]:
        events = [e for e in collect(settings, topics.metrics, 1000) if isinstance(e, MetricsEvent)]
        if not any(e.model_name == scenario.FLUSH and e.window.kind == "tumbling" for e in events):
            raise NotYet("the second flush has not closed the first flush's window yet")
        return events

    events = [e for e in past_the_late_events() if e.model_name != scenario.FLUSH]
    keys = Counter(window_key(e) for e in events)
    assert [k for k, n in keys.items() if n > 1] == [], "a window was emitted twice"
    assert set(keys) == set(expected)

    for event in events:
        assert_window_matches(event, expected[window_key(event)])

    # The classifier's x0 shifts by two standard deviations after 30 s; the
    # 30-second window that sees only the shifted data must show it, clearly
    # above the undrifted features and above the same window before the shift.
    sliding = {
        (e.model_name, e.window.start.minute * 60 + e.window.start.second): e.drift
        for e in events
        if e.window.kind == "sliding" and e.window.start.hour == 0
    }
    before, after = sliding["clf", 0], sliding["clf", 30]
    assert after["x0"].js > 0.6 > before["x0"].js
    assert after["x0"].js > 3 * max(after["x1"].js, after["x2"].js)
    # The OCR model's drift is of the numbers it sent with its raw inputs, which shift too.
    assert sliding["ocr", 30]["x0"].js > 0.6 > sliding["ocr", 0]["x0"].js
    assert all(set(e.drift) <= {"x0", "x1", "x2"} for e in events if e.model_name == "ocr")

    letters = [e for e in collect(settings, topics.dlq, 100) if isinstance(e, DeadLetterEvent)]
    by_place = Counter((e.source_topic.rsplit(".", 1)[1], e.field) for e in letters)
    assert by_place == s.dead_letters
    assert all(e.rejected_by == "flink" and e.original_base64 for e in letters)

    # ...and counted, for Prometheus, by the Flink metric `dead_letters`.
    @eventually(timeout=60, interval=2)
    def counted() -> Counter:
        counts = dead_letter_counts(settings, job_name=f"{topics.predictions.rsplit('.', 1)[0]}-job")
        if sum(counts.values()) < sum(s.dead_letters.values()):
            raise NotYet(f"{sum(counts.values())} of {sum(s.dead_letters.values())} dead letters counted")
        return counts

    assert counted() == Counter({(topic, as_label(f)): n for (topic, f), n in s.dead_letters.items()})

    # Alerts: the job's rule stage must fire exactly where the rules, replayed
    # over the job's own tumbling windows in order, say it does.
    expected_alerts = expected_alert_ids(job["alert_rules"], events)
    assert expected_alerts, "the scenario's drift should fire the rule"

    @eventually(timeout=60, interval=2)
    def alerts() -> list[AlertEvent]:
        found = [e for e in collect(settings, topics.alerts, 50) if isinstance(e, AlertEvent)]
        if len(found) < len(expected_alerts):
            raise NotYet(f"{len(found)} of {len(expected_alerts)} alerts")
        return found

    assert sorted(a.alert_id for a in alerts()) == expected_alerts
    assert {a.model_name for a in alerts()} == {"clf", "ocr"}

    # The lake: each labeled example that could be scored, exactly once, as Parquet.
    wanted = scenario.lake_examples(s)

    @eventually(timeout=60, interval=2)
    def in_the_lake() -> list[dict]:
        rows = [
            r
            for r in read_labeled(settings, prefix=job["lake_prefix"]).to_pylist()
            if r["model_name"] != scenario.FLUSH
        ]
        if len(rows) < len(wanted):
            raise NotYet(f"{len(rows)} of {len(wanted)} labeled examples committed")
        return rows

    rows = in_the_lake()
    assert sorted(r["prediction_id"] for r in rows) == sorted(wanted)
    # Written plain: the job turns Parquet's dictionaries off (most columns differ row by row).
    for fragment in lake_dataset(settings, prefix=job["lake_prefix"]).get_fragments():
        meta = fragment.metadata
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            columns = [group.column(c) for c in range(group.num_columns)]
            assert [c.path_in_schema for c in columns if c.has_dictionary_page] == [], fragment.path
    first = next(r for r in rows if r["prediction_id"] == sorted(wanted)[0])
    prediction = wanted[first["prediction_id"]]
    assert (first["model_name"], first["model_version"], first["task"]) == (
        prediction.model_name,
        prediction.model_version,
        prediction.task,
    )
    assert json.loads(first["inputs"]) == prediction.inputs
    assert json.loads(first["output"]) == prediction.output
    assert first["dt"] == "2026-01-01"
