"""Parse each event once and check it against its contract, in SQL generated from the pydantic models.

A required field of the event contract (closeloop.events) is a required field
here; every broken check names the field and the reason, in the order pydantic
reports them, for the dead letter.
"""

from __future__ import annotations

import json
from types import UnionType
from typing import Annotated, Union, get_args, get_origin

from pydantic.fields import FieldInfo

from closeloop.events import FeedbackEvent, PredictionEvent
from closeloop.events.models import Event
from closeloop.streaming.settings import FeedbackJobSettings
from closeloop.streaming.stages.literals import absent, interval, member, quote, text
from closeloop.tasks import task_names

__all__ = ["checked_view", "contract_checks", "feedback_checks", "members", "prediction_checks"]

Check = tuple[str, str, str]


def members(event: type[Event]) -> list[str]:
    """The members of ``event`` the checks and the parsing read (``ts`` is read by the source)."""
    names = [field.alias or name for name, field in event.model_fields.items()]
    return [m for m in names if m != "ts" and m not in UNUSED.get(event, frozenset())]


#: Members the job never reads, so does not parse out: their shapes go unchecked here (the
#: gateway's pydantic checked them). A prediction's scores can be a large map, written out
#: again per event for nothing.
UNUSED: dict[type[Event], frozenset[str]] = {PredictionEvent: frozenset({"scores"})}


def contract_checks(
    event: type[Event], *, numeric: dict[str, str] | None = None, nullable: frozenset[str] = frozenset()
) -> list[Check]:
    """(SQL condition that is true when broken, field, reason), in the order pydantic reports them.

    Required fields come from the pydantic model; ``numeric`` adds range
    checks on numbers (field -> SQL condition on ``{v}``, the value as DOUBLE).
    A member that is JSON null counts as missing, so a required field that
    may be null (``nullable``) is not checked here. The checks read the
    source's ``ts_text`` and ``ts_parsed`` columns.
    """
    checks: list[Check] = [
        ("members IS NULL", "(event)", "not a JSON object"),
        (absent("schema"), "schema", "missing; every event names its type"),
        (f"{member('schema')} <> {quote(json.dumps(event.SCHEMA))}", "schema", f"expected {event.SCHEMA!r}"),
    ]
    for name, field in event.model_fields.items():
        key = field.alias or name
        if key in ("schema", "ts"):
            continue  # checked above and below
        if field.is_required() and key not in nullable:
            checks.append((absent(key), key, "Field required"))
        if key not in UNUSED.get(event, frozenset()):
            checks += _shape_checks(key, field)
    for key, condition in (numeric or {}).items():
        value = f"TRY_CAST({member(key)} AS DOUBLE)"
        checks.append(
            (
                f"({value} IS NULL OR NOT ({condition.format(v=value)}))",
                key,
                "must be a number, " + condition.format(v="it"),
            )
        )
    checks.append(
        (
            "ts_text IS NOT NULL AND ts_parsed IS NULL",
            "ts",
            "must be an ISO-8601 UTC time like 2026-11-22T10:00:00.123Z",
        )
    )
    return checks


def _shape_checks(key: str, field: FieldInfo) -> list[Check]:
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
    present = f"NOT {absent(key)}"
    if annotation is dict or get_origin(annotation) is dict:
        return [(f"{present} AND LEFT({member(key)}, 1) <> '{{'", key, "Input should be a valid dictionary")]
    if annotation is not str:
        return []
    checks = [(f"{present} AND LEFT({member(key)}, 1) <> '\"'", key, "Input should be a valid string")]
    for constraint in metadata:
        if (low := getattr(constraint, "min_length", None)) is not None:
            word = "character" if low == 1 else "characters"
            checks.append(
                (f"CHAR_LENGTH({text(key)}) < {low}", key, f"String should have at least {low} {word}")
            )
        if (high := getattr(constraint, "max_length", None)) is not None:
            checks.append(
                (f"CHAR_LENGTH({text(key)}) > {high}", key, f"String should have at most {high} characters")
            )
        if (pattern := getattr(constraint, "pattern", None)) is not None:
            # (?U): Java's \w as Unicode as Python's.
            checks.append(
                (
                    f"NOT REGEXP({text(key)}, {quote('(?U)' + pattern)})",
                    key,
                    f"String should match pattern '{pattern}'",
                )
            )
    return checks


def _timing_checks(s: FeedbackJobSettings) -> list[Check]:
    future = (
        f"ts_parsed > CAST(kafka_ts AS TIMESTAMP(3)) + {interval(s.max_clock_skew_s)}",
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


def prediction_checks(s: FeedbackJobSettings) -> list[Check]:
    checks = contract_checks(
        PredictionEvent, numeric={"latency_ms": "{v} >= 0"}, nullable=frozenset({"output"})
    )
    tasks = ", ".join(quote(json.dumps(t)) for t in task_names())
    checks.insert(
        len(checks) - 1,
        (
            f"{member('task')} NOT IN ({tasks})",
            "task",
            f"unknown task; known tasks: {', '.join(task_names())}",
        ),
    )
    checks += [
        (f"{absent('error')} AND {absent('output')}", "output", "must not be null unless error is set"),
        (f"NOT {absent('error')} AND NOT {absent('output')}", "output", "must be null when error is set"),
    ]
    return checks + _timing_checks(s)


def feedback_checks(s: FeedbackJobSettings) -> list[Check]:
    return contract_checks(FeedbackEvent) + _timing_checks(s)


def _problem(checks: list[Check]) -> str:
    """A CASE giving "field<TAB>reason" for the first broken check, NULL for a valid event."""
    whens = "\n        ".join(
        f"WHEN {cond} THEN {quote(field + chr(9) + reason)}" for cond, field, reason in checks
    )
    return f"CASE\n        {whens}\n        ELSE CAST(NULL AS STRING) END"


def checked_view(name: str, source: str, checks: list[Check], keys: list[str]) -> list[str]:
    """Every row of ``source``, parsed once, with ``problem``: NULL if it is valid.

    The JVM function ``event_members`` (flink/functions) parses the event in
    one pass and answers each member in ``keys`` twice: as JSON text, column
    ``j_<member>``, and as text (a string unquoted), column ``t_<member>``.
    It is declared non-deterministic, which keeps the planner from copying
    the parse into every expression that reads a member.
    """
    columns = ",\n    ".join(
        [f"members[{i + 1}] AS {member(m)}" for i, m in enumerate(keys)]
        + [f"members[{len(keys) + i + 1}] AS {text(m)}" for i, m in enumerate(keys)]
    )
    names = ", ".join([*(member(m) for m in keys), *(text(m) for m in keys)])
    return [
        f"""
CREATE TEMPORARY VIEW {name}_members AS
SELECT
    message_key, body, `partition`, `offset`, kafka_ts, ts_text, ts_parsed, event_ts,
    event_members(body, {quote(",".join(keys))}) AS members
FROM {source}""",
        f"""
CREATE TEMPORARY VIEW {name}_json AS
SELECT
    message_key, body, `partition`, `offset`, kafka_ts, ts_text, ts_parsed, event_ts, members,
    {columns}
FROM {name}_members""",
        f"""
CREATE TEMPORARY VIEW {name} AS
SELECT
    message_key, body, `partition`, `offset`, event_ts, {names},
    {_problem(checks)} AS problem
FROM {name}_json""",
    ]
