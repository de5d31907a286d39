"""Pinpoint endpoint exports: JSON lines of EndpointResponse objects, as CreateExportJob writes them (gzip or plain).

Raw: `raw/pinpoint_endpoints/YYYY/MM/DD/`. One export is a snapshot of the registry; within an object an
endpoint id appears once (dedupe per object), and across exports the latest export date wins downstream.
SMS and VOICE addresses must be E.164.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa

from engagement_warehouse.pinpoint_facts import CHANNEL_TYPES, E164, OPT_OUT_VALUES, PHONE_CHANNELS
from engagement_warehouse.sources.base import (
    ObjectContext,
    Source,
    as_json,
    optional_str,
    optional_timestamp,
    required_str,
)
from engagement_warehouse.sources.readers import RawRecord, RowError, iter_json_lines
from engagement_warehouse.sources.staged_schemas import PINPOINT_ENDPOINTS


class PinpointEndpointsSource(Source):
    name = "pinpoint_endpoints"
    table = "pinpoint_endpoints"
    raw_prefix = "raw/pinpoint_endpoints/"
    partitioning = "day"
    dedupe_key = "endpoint_id"
    dedupe_across_objects = False

    @property
    def schema(self) -> pa.Schema:
        return PINPOINT_ENDPOINTS

    def read(self, handle: IO[bytes], context: ObjectContext) -> Iterator[RawRecord]:
        return iter_json_lines(handle)

    def to_row(self, record: dict[str, Any], context: ObjectContext) -> dict[str, Any]:
        endpoint_id = required_str(record, "Id")
        channel_type = optional_str(record, "ChannelType")
        if channel_type is not None and channel_type not in CHANNEL_TYPES:
            raise RowError("unknown_channel_type", channel_type[:50])
        address = optional_str(record, "Address")
        if channel_type in PHONE_CHANNELS and address is not None and not E164.match(address):
            raise RowError("address_not_e164", f"{channel_type} address is not E.164")
        opt_out = optional_str(record, "OptOut")
        if opt_out is not None and opt_out not in OPT_OUT_VALUES:
            raise RowError("wrong_value", f"OptOut {opt_out[:20]!r}")
        user = record.get("User") or {}
        if not isinstance(user, dict):
            raise RowError("wrong_type", "User must be an object")
        return {
            "endpoint_id": endpoint_id,
            "application_id": optional_str(record, "ApplicationId"),
            "address": address,
            "channel_type": channel_type,
            "endpoint_status": optional_str(record, "EndpointStatus"),
            "opt_out": opt_out,
            "effective_at": optional_timestamp(record, "EffectiveDate"),
            "created_at": optional_timestamp(record, "CreationDate"),
            "cohort_id": optional_str(record, "CohortId"),
            "user_id": optional_str(user, "UserId"),
            "user_attributes": as_json(user.get("UserAttributes")),
            "attributes": as_json(record.get("Attributes")),
            "metrics": as_json(record.get("Metrics")),
            "demographic": as_json(record.get("Demographic")),
            "location": as_json(record.get("Location")),
            "export_date": context.partition_at.date(),
        }
