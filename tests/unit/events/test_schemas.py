"""The JSON Schemas in schemas/ are what the models say, and they accept the events."""

from __future__ import annotations

import json

import jsonschema

from closeloop.events import encode
from closeloop.events.schemas import SCHEMA_DIR, json_schemas, stale_schemas
from tests.unit.events.test_contracts import EXAMPLES


def test_published_schemas_are_up_to_date() -> None:
    stale = stale_schemas()
    assert not stale, f"stale JSON Schemas {stale}: run `closeloop schemas --write` and commit schemas/"


def test_staleness_is_detected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name, text in json_schemas().items():
        (tmp_path / name).write_text(text)
    assert stale_schemas(tmp_path) == []
    first = sorted(json_schemas())[0]
    (tmp_path / first).write_text("{}")
    (tmp_path / "closeloop.old.v0.json").write_text("{}")
    assert stale_schemas(tmp_path) == [first, "closeloop.old.v0.json"]


def test_published_schemas_accept_every_example() -> None:
    for event in EXAMPLES:
        schema = json.loads((SCHEMA_DIR / f"{type(event).SCHEMA}.json").read_text())
        jsonschema.validate(json.loads(encode(event)), schema)
