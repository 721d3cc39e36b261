"""The JSON Schemas of the events, generated into schemas/ and checked for staleness."""

from __future__ import annotations

import json
from pathlib import Path

from closeloop.config import PROJECT_ROOT
from closeloop.events.serde import EVENT_TYPES

__all__ = ["SCHEMA_DIR", "json_schemas", "stale_schemas", "write_schemas"]

SCHEMA_DIR = PROJECT_ROOT / "schemas"


def json_schemas() -> dict[str, str]:
    """File name -> JSON Schema text, one per event type."""
    result = {}
    for name, cls in EVENT_TYPES.items():
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:closeloop:schema:{name}",
            **cls.model_json_schema(mode="validation"),
        }
        result[f"{name}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return result


def write_schemas(folder: Path = SCHEMA_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in json_schemas().items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written


def stale_schemas(folder: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files that are missing, differ from the models, or belong to no event."""
    expected = json_schemas()
    stale = [
        n for n, text in expected.items() if not (folder / n).exists() or (folder / n).read_text() != text
    ]
    stale += sorted(p.name for p in folder.glob("*.json") if p.name not in expected)
    return stale
