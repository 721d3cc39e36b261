"""Parse each event once and check it against its contract, by rules generated from the pydantic models.

A required field of the event contract (closeloop.events) is a required field
here; every broken rule names the field and the reason, in the order pydantic
reports them, for the dead letter. The JVM runs the rules as it parses the
event; what needs Kafka's time or the watermark stays in SQL.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from types import UnionType
from typing import Annotated, Union, get_args, get_origin

from pydantic.fields import FieldInfo

from closeloop.events import FeedbackEvent, PredictionEvent
from closeloop.events.models import Event
from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.stages.literals import EPOCH, interval, member, quote, text
from closeloop.tasks import task_names

__all__ = [
    "Rule",
    "checked_view",
    "contract_rules",
    "feedback_rules",
    "members",
    "prediction_rules",
    "timing_checks",
]

#: A check only SQL can make (it reads Kafka's time or the watermark): (condition, field, reason).
Check = tuple[str, str, str]

#: The source's event time for an event it cannot place (event_time, flink/functions):
#: not a JSON object, or its `ts` broken or too far ahead. Why is asked only then.
_NO_TIME = f"CAST(event_ts AS TIMESTAMP(3)) = {EPOCH}"

#: Whether the event's `ts` is present and not a time: the contract rule bad_ts.
_BAD_TS = f"{_NO_TIME} AND ts_text(body) IS NOT NULL AND ts_parsed(body) IS NULL"


@dataclass(frozen=True)
class Rule:
    """One check of an event's contract, run in the JVM as it parses the event.

    ``kind`` says when it is broken, on ``member`` (and ``other``), with ``arg``:
    io.closeloop.flink.EventContract lists the kinds.
    """

    kind: str
    field: str
    reason: str
    member: str | None = None
    arg: object = None
    other: str | None = None


def members(event: type[Event]) -> list[str]:
    """The members of ``event`` the checks and the parsing read (``ts`` is read by the source)."""
    names = [field.alias or name for name, field in event.model_fields.items()]
    return [m for m in names if m != "ts" and m not in UNUSED.get(event, frozenset())]


#: Members the job never reads, so does not parse out: their shapes go unchecked here (the
#: gateway's pydantic checked them). A prediction's scores can be a large map, written out
#: again per event for nothing.
UNUSED: dict[type[Event], frozenset[str]] = {PredictionEvent: frozenset({"scores"})}


def contract_rules(
    event: type[Event], *, at_least: dict[str, float] | None = None, nullable: frozenset[str] = frozenset()
) -> list[Rule]:
    """The contract's rules, in the order pydantic reports them.

    Required fields come from the pydantic model; ``at_least`` adds "a number,
    at least" checks (field -> lower bound). A member that is JSON null counts
    as missing, so a required field that may be null (``nullable``) is not
    checked here. ``ts`` is checked by the source's own parse of it.
    """
    rules = [
        Rule("not_json_object", "(event)", "not a JSON object"),
        Rule("absent", "schema", "missing; every event names its type", "schema"),
        Rule("not_equal", "schema", f"expected {event.SCHEMA!r}", "schema", json.dumps(event.SCHEMA)),
    ]
    for name, field in event.model_fields.items():
        key = field.alias or name
        if key in ("schema", "ts"):
            continue  # checked above and below
        if field.is_required() and key not in nullable:
            rules.append(Rule("absent", key, "Field required", key))
        if key not in UNUSED.get(event, frozenset()):
            rules += _shape_rules(key, field)
    for key, least in (at_least or {}).items():
        rules.append(Rule("not_number_at_least", key, f"must be a number, it >= {least:g}", key, least))
    rules.append(Rule("bad_ts", "ts", "must be an ISO-8601 UTC time like 2026-11-22T10:00:00.123Z"))
    return rules


def _shape_rules(key: str, field: FieldInfo) -> list[Rule]:
    """The JSON type of a present member, and a string's length and pattern, in pydantic's words.

    Only for plain strings and objects: other members' shapes are the task's
    (output, ground_truth) or checked as numbers.
    """
    annotation, metadata = field.annotation, list(field.metadata)
    if get_origin(annotation) in (Union, UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if len(options) != 1:
            return []
        annotation = options[0]
    if get_origin(annotation) is Annotated:
        annotation, *more = get_args(annotation)
        metadata += more
    if annotation is dict or get_origin(annotation) is dict:
        rules = [Rule("not_dict", key, "Input should be a valid dictionary", key)]
        values = get_args(annotation)[1:]
        if values and _strip(values[0]) is float:
            rules.append(Rule("not_number_map", key, "Input should be a valid number", key))
        return rules
    if annotation is not str:
        return []
    rules = [Rule("not_string", key, "Input should be a valid string", key)]
    for constraint in metadata:
        if (low := getattr(constraint, "min_length", None)) is not None:
            word = "character" if low == 1 else "characters"
            rules.append(Rule("too_short", key, f"String should have at least {low} {word}", key, low))
        if (high := getattr(constraint, "max_length", None)) is not None:
            rules.append(Rule("too_long", key, f"String should have at most {high} characters", key, high))
        if (pattern := getattr(constraint, "pattern", None)) is not None:
            rules.append(Rule("no_match", key, f"String should match pattern '{pattern}'", key, pattern))
    return rules


def _strip(annotation: object) -> object:
    """The type inside an ``Annotated``."""
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def timing_checks(s: FeedbackJobSettings) -> list[Check]:
    # Only an event the source gave the epoch can be one: the time is read again then.
    future = (
        f"{_NO_TIME} AND ts_parsed(body) > CAST(kafka_ts AS TIMESTAMP(3)) + {interval(s.max_clock_skew_s)}",
        "ts",
        f"more than {s.max_clock_skew_s} s after the time Kafka received the event",
    )
    # Late events would be dropped silently by the windows; they go to the
    # dead-letter topic instead. CURRENT_WATERMARK is the watermark the row
    # came after, so what passes here is on time downstream too.
    late = (
        "event_ts <= CURRENT_WATERMARK(event_ts)",
        "ts",
        f"late: behind the stream's watermark (out-of-orderness allowed: {s.out_of_orderness_s} s)",
    )
    return [future, late]


def prediction_rules() -> list[Rule]:
    rules = contract_rules(PredictionEvent, at_least={"latency_ms": 0}, nullable=frozenset({"output"}))
    reason = f"unknown task; known tasks: {', '.join(task_names())}"
    unknown = Rule("not_one_of", "task", reason, "task", [json.dumps(t) for t in task_names()])
    rules.insert(len(rules) - 1, unknown)
    return [
        *rules,
        Rule("neither", "output", "must not be null unless error is set", "error", other="output"),
        Rule("both", "output", "must be null when error is set", "error", other="output"),
    ]


def feedback_rules() -> list[Rule]:
    return contract_rules(FeedbackEvent)


def _rules_json(rules: list[Rule]) -> str:
    spec = [{k: v for k, v in asdict(rule).items() if v is not None} for rule in rules]
    return json.dumps(spec, separators=(",", ":"), ensure_ascii=False)


def checked_view(
    name: str, source: str, rules: list[Rule], timing: list[Check], keys: list[str]
) -> list[str]:
    """Every row of ``source``, parsed once, with ``problem``: NULL if it is valid.

    The JVM function ``event_members`` (flink/functions) parses the event in
    one pass, answers each member in ``keys`` twice: as JSON text, column
    ``j_<member>``, and as text (a string unquoted), column ``t_<member>``, and
    then the first of ``rules`` the event breaks. It is declared
    non-deterministic, which keeps the planner from copying the parse into
    every expression that reads a member. The ``timing`` checks follow in SQL.
    """
    k = len(keys)
    columns = ",\n    ".join(
        [f"members[{i + 1}] AS {member(m)}" for i, m in enumerate(keys)]
        + [f"members[{k + i + 1}] AS {text(m)}" for i, m in enumerate(keys)]
        + [f"members[{2 * k + 1}] AS contract_problem"]
    )
    names = ", ".join([*(member(m) for m in keys), *(text(m) for m in keys)])
    whens = "\n        ".join(
        ["WHEN contract_problem IS NOT NULL THEN contract_problem"]
        + [f"WHEN {cond} THEN {quote(field + chr(9) + reason)}" for cond, field, reason in timing]
    )
    return [
        f"""
CREATE TEMPORARY VIEW {name}_members AS
SELECT
    message_key, body, `partition`, `offset`, kafka_ts, event_ts,
    event_members(body, {quote(",".join(keys))}, {quote(_rules_json(rules))},
        {_BAD_TS}) AS members
FROM {source}""",
        f"""
CREATE TEMPORARY VIEW {name}_json AS
SELECT
    message_key, body, `partition`, `offset`, kafka_ts, event_ts,
    {columns}
FROM {name}_members""",
        f"""
CREATE TEMPORARY VIEW {name} AS
SELECT
    message_key, body, `partition`, `offset`, event_ts, {names},
    CASE
        {whens}
        ELSE CAST(NULL AS STRING) END AS problem
FROM {name}_json""",
    ]
