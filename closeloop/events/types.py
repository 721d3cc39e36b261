"""Field types shared by the event contracts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, PlainSerializer, Strict, StringConstraints

__all__ = ["Identifier", "ModelName", "Number", "Timestamp", "UseCaseName", "utc_now"]


def _to_utc(value: datetime) -> datetime:
    # Events carry milliseconds: truncating here makes encode/decode a round trip.
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)


def _iso_z(value: datetime) -> str:
    # Millisecond ISO-8601 with a literal Z: what Flink's JSON format reads as
    # TIMESTAMP_LTZ(3) with 'json.timestamp-format.standard' = 'ISO-8601'.
    # isoformat pads every year to four digits (strftime's %Y does not, before 1000).
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


#: A point in time, with a time zone; stored in UTC, written as 2026-11-22T01:02:03.456Z.
Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    PlainSerializer(_iso_z, return_type=str, when_used="json"),
]

#: An id chosen by a producer (a prediction id, an alert id): printable, no spaces.
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\w.:@/-]+$")]

#: A registered model's name, as MLflow's registry allows it.
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[\w.-]+$")]
#: A use case's registered name (training/usecases/registry.py): lower case, digits and underscores.
UseCaseName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]

ModelVersion = Annotated[str, Field(min_length=1, max_length=64)]

#: A JSON number, int or float (NaN and ±Infinity too): never a numeric string or a boolean.
Number = Annotated[float, Strict()]


def utc_now() -> datetime:
    return datetime.now(UTC)
