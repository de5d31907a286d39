"""Pinpoint event stream: email, SMS, campaign, journey and app events as Firehose delivers them.

Raw: JSON lines (gzip or plain), or Parquet (Firehose record-format conversion), under
`raw/pinpoint_events/YYYY/MM/DD/HH/`. Timestamps are epoch milliseconds. Records carry no id, so the dedupe key
`event_id` is the SHA-256 of the canonical record (sorted keys, no whitespace): the same event delivered twice
gets the same id, whatever object it came in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa

from engagement_warehouse.sources.base import (
    ObjectContext,
    Source,
    as_json,
    extra_fields,
    optional_str,
    optional_timestamp,
    required_str,
    required_timestamp,
)
from engagement_warehouse.sources.readers import (
    RawRecord,
    RowError,
    iter_json_lines,
    iter_parquet_records,
    peekable,
)
from engagement_warehouse.sources.staged_schemas import PINPOINT_EVENTS

KNOWN_FIELDS = frozenset(
    {
        "event_type", "event_timestamp", "arrival_timestamp", "event_version", "application", "client",
        "client_context", "device", "session", "attributes", "metrics", "awsAccountId", "facets", "endpoint",
    }
)  # fmt: skip
PARQUET_MAGIC = b"PAR1"


def canonical_event_id(record: dict[str, Any]) -> str:
    """A stable id for a record that has none: SHA-256 of its canonical JSON."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _object(record: dict[str, Any], field: str) -> dict[str, Any]:
    value = record.get(field)
    if value is None:
        return {}
    if isinstance(value, str):  # Parquet conversion or SDKs may deliver nested objects as JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise RowError("wrong_type", f"{field} is not an object") from error
    if not isinstance(value, dict):
        raise RowError("wrong_type", f"{field} must be an object")
    return value


class PinpointEventsSource(Source):
    name = "pinpoint_events"
    table = "pinpoint_events"
    raw_prefix = "raw/pinpoint_events/"
    partitioning = "hour"
    dedupe_key = "event_id"

    @property
    def schema(self) -> pa.Schema:
        return PINPOINT_EVENTS

    def read(self, handle: IO[bytes], context: ObjectContext) -> Iterator[RawRecord]:
        buffered = peekable(handle)  # Firehose names objects without an extension: sniff the magic bytes
        if context.key.endswith(".parquet") or buffered.peek(4)[:4] == PARQUET_MAGIC:
            return iter_parquet_records(buffered)
        return iter_json_lines(buffered)

    def to_row(self, record: dict[str, Any], context: ObjectContext) -> dict[str, Any]:
        event_type = required_str(record, "event_type")
        event_at = required_timestamp(record, "event_timestamp", epoch_unit="auto")
        arrival_at = required_timestamp(record, "arrival_timestamp", epoch_unit="auto")
        if arrival_at > context.partition_end + self.future_tolerance:
            raise RowError("event_in_future", f"arrival {arrival_at.isoformat()} after its delivery hour")
        application = _object(record, "application")
        client = _object(record, "client")
        session = _object(record, "session")
        endpoint: Any = record.get("endpoint")
        if endpoint is None:
            custom = _object(_object(record, "client_context"), "custom") if "client_context" in record else {}
            endpoint_text = custom.get("endpoint")
            if isinstance(endpoint_text, str):
                try:
                    endpoint = json.loads(endpoint_text)
                except json.JSONDecodeError:
                    endpoint = {"_unparsed": endpoint_text}
        return {
            "event_id": canonical_event_id(record),
            "event_type": event_type,
            "event_at": event_at,
            "arrival_at": arrival_at,
            "event_version": optional_str(record, "event_version"),
            "application_id": optional_str(application, "app_id"),
            "client_id": optional_str(client, "client_id"),
            "cognito_id": optional_str(client, "cognito_id"),
            "session_id": optional_str(session, "session_id"),
            "session_start_at": optional_timestamp(session, "start_timestamp"),
            "session_stop_at": optional_timestamp(session, "stop_timestamp"),
            "aws_account_id": optional_str(record, "awsAccountId"),
            "attributes": as_json(_object(record, "attributes") or None),
            "metrics": as_json(_object(record, "metrics") or None),
            "facets": as_json(_object(record, "facets") or None),
            "device": as_json(_object(record, "device") or None),
            "endpoint": as_json(endpoint),
            "extra": extra_fields(record, KNOWN_FIELDS),
        }
