"""Clickstream: Segment tracking-spec events (track, page, identify, ...) as Firehose writes them.

Raw: gzip or plain JSON lines under `raw/clickstream/YYYY/MM/DD/HH/`. Dedupe key: `messageId`.
Event time is corrected for client clock skew as the Segment spec defines it:
`event_at = receivedAt - (sentAt - timestamp)`, falling back to `timestamp` when sentAt or receivedAt is absent.
"""

from __future__ import annotations

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
from engagement_warehouse.sources.readers import RawRecord, RowError, iter_json_lines
from engagement_warehouse.sources.staged_schemas import CLICKSTREAM_EVENTS

EVENT_TYPES = frozenset({"track", "page", "screen", "identify", "group", "alias"})
KNOWN_FIELDS = frozenset(
    {
        "type", "messageId", "anonymousId", "userId", "event", "name", "timestamp", "originalTimestamp",
        "sentAt", "receivedAt", "context", "properties", "traits", "integrations", "channel", "version",
        "writeKey", "category",
    }
)  # fmt: skip


class ClickstreamSource(Source):
    name = "clickstream"
    table = "clickstream_events"
    raw_prefix = "raw/clickstream/"
    partitioning = "hour"
    dedupe_key = "message_id"

    @property
    def schema(self) -> pa.Schema:
        return CLICKSTREAM_EVENTS

    def read(self, handle: IO[bytes], context: ObjectContext) -> Iterator[RawRecord]:
        return iter_json_lines(handle)

    def to_row(self, record: dict[str, Any], context: ObjectContext) -> dict[str, Any]:
        message_id = required_str(record, "messageId")
        event_type = required_str(record, "type")
        if event_type not in EVENT_TYPES:
            raise RowError("unknown_event_type", event_type[:50])
        anonymous_id = optional_str(record, "anonymousId")
        user_id = optional_str(record, "userId")
        if anonymous_id is None and user_id is None:
            raise RowError("missing_identity", "neither anonymousId nor userId")
        event = optional_str(record, "event")
        if event_type == "track" and event is None:
            raise RowError("missing_required_field", "event (on a track call)")
        timestamp = required_timestamp(record, "timestamp")
        sent_at = optional_timestamp(record, "sentAt")
        received_at = optional_timestamp(record, "receivedAt")
        event_at = received_at - (sent_at - timestamp) if sent_at and received_at else timestamp
        reference = received_at or context.partition_end
        if event_at > reference + self.future_tolerance:
            raise RowError("event_in_future", f"event_at {event_at.isoformat()} after {reference.isoformat()}")
        for nested in ("context", "properties", "traits"):
            if record.get(nested) is not None and not isinstance(record[nested], dict):
                raise RowError("wrong_type", f"{nested} must be an object")
        return {
            "message_id": message_id,
            "type": event_type,
            "event": event,
            "name": optional_str(record, "name"),
            "anonymous_id": anonymous_id,
            "user_id": user_id,
            "event_at": event_at,
            "original_timestamp": (
                timestamp
                if record.get("originalTimestamp") == record["timestamp"]  # the usual case: parse once
                else optional_timestamp(record, "originalTimestamp") or timestamp
            ),
            "sent_at": sent_at,
            "received_at": received_at,
            "context": as_json(record.get("context")),
            "properties": as_json(record.get("properties")),
            "traits": as_json(record.get("traits")),
            "extra": extra_fields(record, KNOWN_FIELDS),
        }
