"""Dead letters: invalid events, unmatched feedback and unscorable labels, as closeloop.dead-letter.v1."""

from __future__ import annotations

from closeloop.config import Topics
from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.stages.literals import quote

__all__ = ["dead_letters_insert"]


def _letter(source_topic: str, field: str, reason: str) -> str:
    """A closeloop.dead-letter.v1 event, built in SQL from a row of ``paired`` or ``invalid_events``."""
    return f"""JSON_OBJECT(
        'ts' VALUE DATE_FORMAT(CURRENT_TIMESTAMP, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z'''),
        'schema' VALUE 'closeloop.dead-letter.v1',
        'source_topic' VALUE {source_topic},
        'partition' VALUE `partition`,
        'offset' VALUE `offset`,
        'message_key' VALUE message_key,
        'reason' VALUE {reason},
        'field' VALUE {field},
        'original_base64' VALUE TO_BASE64(body),
        'original' VALUE body,
        'rejected_by' VALUE 'flink'
        ABSENT ON NULL)"""


def dead_letters_insert(s: FeedbackJobSettings, topics: Topics) -> str:
    # Unmatched feedback has a field and no reason; an unscorable label has both.
    unmatched = quote(
        "prediction_id: no prediction with this id at or up to the label delay "
        f"({s.label_delay_s} s) before the feedback's time"
    )
    source_topic = f"COALESCE(source_topic, {quote(topics.feedback)})"
    field = "COALESCE(field, SPLIT_INDEX(reason, CHR(9), 0))"
    reason = f"CASE WHEN reason IS NULL THEN {unmatched} ELSE REPLACE(reason, CHR(9), ': ') END"
    # An invalid event's problem is "field TAB reason".
    invalid = """
    UNION ALL
    SELECT message_key, source_topic, SPLIT_INDEX(problem, CHR(9), 0), REPLACE(problem, CHR(9), ': '),
        body, `partition`, `offset`
    FROM invalid_events"""
    # Counted on their way out (Flink metric `dead_letters`, by source topic and field).
    return f"""
INSERT INTO dlq_sink
SELECT message_key, count_dead_letter(source_topic, field, {_letter("source_topic", "field", "reason")})
FROM (
    SELECT message_key, {source_topic} AS source_topic, {field} AS field, {reason} AS reason,
        body, `partition`, `offset`
    FROM paired
    WHERE kind = 'dead_letter' OR field IS NOT NULL{invalid})"""
