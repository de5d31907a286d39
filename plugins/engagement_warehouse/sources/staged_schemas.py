"""The staged-layer contract: one Arrow schema per warehouse raw table.

Landing writes these columns to `staged/<source>/dt=YYYY-MM-DD/hour=HH/*.parquet` (zstd); the warehouse
loaders register them as `raw.<table>`; dbt's staging models read them through `source('raw', ...)`.
Timestamps are naive and in UTC. Nested objects that models read field by field are kept as JSON text,
so every target (DuckDB, Redshift, Athena) reads them the same way.

Lineage columns on every table:
- `source_key`: the lake key of the raw object the row came from;
- `source_line`: 1-based line (or record) number inside that object;
- `arrival_hour`: the hour partition the object arrived in (UTC), which late events keep.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us")

LINEAGE_FIELDS = [
    pa.field("source_key", pa.string(), nullable=False),
    pa.field("source_line", pa.int64(), nullable=False),
    pa.field("arrival_hour", TS, nullable=False),
]

CLICKSTREAM_EVENTS = pa.schema(
    [
        pa.field("message_id", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),  # track | page | identify | screen | group | alias
        pa.field("event", pa.string()),  # track event name, e.g. "Order Completed"
        pa.field("name", pa.string()),  # page or screen name
        pa.field("anonymous_id", pa.string()),
        pa.field("user_id", pa.string()),
        pa.field("event_at", TS, nullable=False),  # receivedAt - (sentAt - timestamp), per the Segment spec
        pa.field("original_timestamp", TS),  # the client's own clock
        pa.field("sent_at", TS),
        pa.field("received_at", TS),
        pa.field("context", pa.string()),  # JSON
        pa.field("properties", pa.string()),  # JSON
        pa.field("traits", pa.string()),  # JSON
        pa.field("extra", pa.string()),  # JSON of unexpected top-level fields (schema drift is kept)
        *LINEAGE_FIELDS,
    ]
)

PINPOINT_EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),  # sha256 of the canonical record
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("event_at", TS, nullable=False),  # event_timestamp (epoch ms)
        pa.field("arrival_at", TS, nullable=False),  # arrival_timestamp (epoch ms)
        pa.field("event_version", pa.string()),
        pa.field("application_id", pa.string()),
        pa.field("client_id", pa.string()),  # the endpoint id for campaign and journey sends
        pa.field("cognito_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("session_start_at", TS),
        pa.field("session_stop_at", TS),
        pa.field("aws_account_id", pa.string()),
        pa.field("attributes", pa.string()),  # JSON map of strings
        pa.field("metrics", pa.string()),  # JSON map of numbers
        pa.field("facets", pa.string()),  # JSON
        pa.field("device", pa.string()),  # JSON
        pa.field("endpoint", pa.string()),  # JSON: `endpoint` or client_context.custom.endpoint
        pa.field("extra", pa.string()),  # JSON of unexpected top-level fields
        *LINEAGE_FIELDS,
    ]
)

PINPOINT_ENDPOINTS = pa.schema(
    [
        pa.field("endpoint_id", pa.string(), nullable=False),
        pa.field("application_id", pa.string()),
        pa.field("address", pa.string()),
        pa.field("channel_type", pa.string()),
        pa.field("endpoint_status", pa.string()),
        pa.field("opt_out", pa.string()),
        pa.field("effective_at", TS),
        pa.field("created_at", TS),
        pa.field("cohort_id", pa.string()),
        pa.field("user_id", pa.string()),
        pa.field("user_attributes", pa.string()),  # JSON map of string lists
        pa.field("attributes", pa.string()),  # JSON map of string lists
        pa.field("metrics", pa.string()),  # JSON map of numbers
        pa.field("demographic", pa.string()),  # JSON
        pa.field("location", pa.string()),  # JSON
        pa.field("export_date", pa.date32(), nullable=False),  # the YYYY/MM/DD of the export prefix
        *LINEAGE_FIELDS,
    ]
)

STAGED_SCHEMAS: dict[str, pa.Schema] = {
    "clickstream": CLICKSTREAM_EVENTS,
    "pinpoint_events": PINPOINT_EVENTS,
    "pinpoint_endpoints": PINPOINT_ENDPOINTS,
}
"""Fixed-schema sources. Partner schemas come from their YAML contracts (sources/contracts/*.yml)."""

WAREHOUSE_TABLES: dict[str, str] = {
    "clickstream": "clickstream_events",
    "pinpoint_events": "pinpoint_events",
    "pinpoint_endpoints": "pinpoint_endpoints",
}
"""Source name -> table name in the warehouse `raw` schema. A partner `<p>` lands as `raw.partner_<p>`."""
