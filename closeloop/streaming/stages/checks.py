"""The event contracts' rules for the job's checks, generated from the pydantic models.

A required field of the event contract (closeloop.events) is a required field
here; every broken rule names the field and the reason, in the order pydantic
reports them, for the dead letter. The job's front runs them in the JVM as it
parses each event (io.closeloop.flink.EventContract), then checks that its
``ts`` is not too far ahead of Kafka's time and not late.
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
from closeloop.tasks import task_names

__all__ = [
    "Rule",
    "contract_rules",
    "feedback_rules",
    "future_problem",
    "late_problem",
    "members",
    "prediction_rules",
    "rules_json",
]


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


def future_problem(s: FeedbackJobSettings) -> str:
    """Why an event whose ``ts`` is too far ahead of Kafka's time is a dead letter."""
    return f"ts\tmore than {s.max_clock_skew_s} s after the time Kafka received the event"


def late_problem(s: FeedbackJobSettings) -> str:
    """Why a late event is a dead letter: the windows would drop it without a word."""
    return f"ts\tlate: behind the stream's watermark (out-of-orderness allowed: {s.out_of_orderness_s} s)"


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


def rules_json(rules: list[Rule]) -> str:
    """The rules as io.closeloop.flink.EventContract reads them."""
    spec = [{k: v for k, v in asdict(rule).items() if v is not None} for rule in rules]
    return json.dumps(spec, separators=(",", ":"), ensure_ascii=False)
