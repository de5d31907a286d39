"""What every source declares: where it lands, its staged schema, its dedupe rule, and how one record maps to a row.

The landing engine (`engagement_warehouse.landing`) is the same for every source; sources differ only here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any, Literal

import orjson
import pyarrow as pa

from engagement_warehouse.sources.readers import RawRecord, RowError
from engagement_warehouse.sources.timestamps import TimestampError, parse_timestamp

Partitioning = Literal["hour", "day"]


@dataclass(frozen=True)
class ObjectContext:
    """Where a raw object sits: its key and the partition its prefix names (UTC)."""

    key: str
    partition_at: datetime  # the YYYY/MM/DD[/HH] of the prefix

    @property
    def partition_end(self) -> datetime:
        return self.partition_at + timedelta(hours=1)


class Source(ABC):
    """A raw feed: its layout in the lake, its staged contract and its record parser."""

    name: str  # also the staged/, quarantine/ and ledger/ folder name
    table: str  # the warehouse table in the `raw` schema
    raw_prefix: str  # where producers write, ending in /
    partitioning: Partitioning
    dedupe_key: str | None  # the staged column that identifies a row; None = no row-level dedupe
    dedupe_across_objects: bool = True  # False: the key is unique within one object only (snapshots)
    future_tolerance = timedelta(hours=1)

    @property
    @abstractmethod
    def schema(self) -> pa.Schema:
        """The staged Arrow schema (lineage columns included)."""

    @abstractmethod
    def read(self, handle: IO[bytes], context: ObjectContext) -> Iterator[RawRecord]:
        """Decode the object's records (format-specific)."""

    @abstractmethod
    def to_row(self, record: dict[str, Any], context: ObjectContext) -> dict[str, Any]:
        """Validate one record against the contract and map it to a staged row; raise RowError to refuse it."""

    def partition_of(self, key: str) -> datetime | None:
        """The partition time named by a raw key's prefix, or None when the key is outside the layout."""
        rest = key[len(self.raw_prefix) :].split("/")
        depth = 4 if self.partitioning == "hour" else 3
        if len(rest) <= depth:
            return None
        try:
            parts = [int(part) for part in rest[:depth]]
            return datetime(*parts)  # type: ignore[arg-type]
        except ValueError:
            return None


# ---- helpers shared by the source modules -------------------------------------------------------------


def as_json(value: Any) -> str | None:
    """Canonical JSON text for a nested value (None stays None): sorted keys, no whitespace, UTF-8 as is."""
    if value is None:
        return None
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def optional_str(record: dict[str, Any], field: str) -> str | None:
    """`record[field]` as text; None when absent, null or empty; numbers become text; anything else is wrong_type."""
    value = record.get(field)
    if value.__class__ is str:  # the common case first: this runs several times per row
        return value or None
    if value is None:
        return None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise RowError("wrong_type", f"{field} must be a string, got {type(value).__name__}")


def required_str(record: dict[str, Any], field: str) -> str:
    value = optional_str(record, field)
    if value is None:
        raise RowError("missing_required_field", field)
    return value


def optional_timestamp(record: dict[str, Any], field: str, epoch_unit: str = "auto") -> datetime | None:
    value = record.get(field)
    if value is None or value == "":
        return None
    try:
        return parse_timestamp(value, epoch_unit=epoch_unit)
    except TimestampError as error:
        raise RowError("bad_timestamp", f"{field}: {error}") from error


def required_timestamp(record: dict[str, Any], field: str, epoch_unit: str = "auto") -> datetime:
    value = optional_timestamp(record, field, epoch_unit)
    if value is None:
        raise RowError("missing_required_field", field)
    return value


def extra_fields(record: dict[str, Any], known: frozenset[str]) -> str | None:
    """Unexpected top-level fields, kept as JSON: schema drift is recorded, never fatal."""
    unexpected = record.keys() - known
    if not unexpected:
        return None
    return as_json({key: record[key] for key in unexpected})
