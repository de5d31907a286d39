"""Pinpoint `EndpointBatchItem` payloads from `EndpointRecord`s, and pre-flight validation.

Shape (botocore's `pinpoint` model): `Id`, `Address`, `ChannelType`, `OptOut`, `EffectiveDate`,
`EndpointStatus`, `Attributes {name: [str]}`, `Metrics {name: float}`,
`User {UserId, UserAttributes {name: [str]}}`, `Demographic {...: str}`,
`Location {City, Country, PostalCode, Region: str, Latitude, Longitude: float}`.

Clearing rules (Pinpoint overwrites the values it is given):
- a custom attribute (`Attributes.*`, `User.UserAttributes.*`) whose desired value is null is sent as
  `[]`, which clears it on the endpoint;
- a metric whose desired value is null is *dropped* from the payload: Pinpoint metrics are numbers only
  and cannot be emptied by UpdateEndpointsBatch, so the stale metric stays; the item carries a note;
- a null standard field (`Address`, `ChannelType`, `Demographic.*`, ...) is omitted (left unchanged):
  those are identity/channel fields that the export model is expected to always fill.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engagement_warehouse.destinations.base import AttributeValue, EndpointRecord
from engagement_warehouse.pinpoint_facts import (
    CHANNEL_TYPES,
    MAX_ATTRIBUTE_NAME_LENGTH,
    MAX_ATTRIBUTE_VALUE_LENGTH,
    MAX_VALUES_PER_ATTRIBUTE,
    OPT_OUT_VALUES,
)

_TOP_LEVEL_STRINGS = ("Address", "ChannelType", "OptOut", "EffectiveDate", "EndpointStatus")
_FLOAT_LOCATION_FIELDS = ("Latitude", "Longitude")


@dataclass(frozen=True, slots=True)
class PayloadLimits:
    """Pinpoint's documented endpoint limits (configurable, defaults from the quotas page)."""

    max_name_chars: int = MAX_ATTRIBUTE_NAME_LENGTH
    max_value_chars: int = MAX_ATTRIBUTE_VALUE_LENGTH
    max_values_per_attribute: int = MAX_VALUES_PER_ATTRIBUTE
    max_endpoint_bytes: int = 15 * 1024


def _as_list(value: AttributeValue) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and str(v) != ""]
    text = str(value)
    return [text] if text else []


def _as_float(value: AttributeValue) -> float | None:
    if value is None or isinstance(value, list):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def build_endpoint_item(record: EndpointRecord) -> tuple[dict[str, Any], list[str]]:
    """Map a record's attribute paths to an `EndpointBatchItem`; return it and notes on dropped values."""
    item: dict[str, Any] = {"Id": record.endpoint_id}
    notes: list[str] = []
    attributes: dict[str, list[str]] = {}
    metrics: dict[str, float] = {}
    user: dict[str, Any] = {}
    user_attributes: dict[str, list[str]] = {}
    demographic: dict[str, str] = {}
    location: dict[str, Any] = {}
    for path, value in sorted(record.attributes.items()):
        if path.startswith("Attributes."):
            attributes[path.removeprefix("Attributes.")] = _as_list(value)
        elif path.startswith("User.UserAttributes."):
            user_attributes[path.removeprefix("User.UserAttributes.")] = _as_list(value)
        elif path.startswith("Metrics."):
            number = _as_float(value)
            if number is None:
                notes.append(f"{path} is null: not cleared (Pinpoint metrics cannot be emptied)")
            else:
                metrics[path.removeprefix("Metrics.")] = number
        elif path == "User.UserId":
            if value is not None:
                user["UserId"] = str(value)
        elif path in _TOP_LEVEL_STRINGS:
            if value is not None:
                item[path] = str(value)
        elif path.startswith("Demographic."):
            if value is not None:
                demographic[path.removeprefix("Demographic.")] = str(value)
        elif path.startswith("Location."):
            name = path.removeprefix("Location.")
            if value is None:
                continue
            if name in _FLOAT_LOCATION_FIELDS:
                number = _as_float(value)
                if number is not None:
                    location[name] = number
            else:
                location[name] = str(value)
        elif path == "Id":
            continue
        else:
            raise ValueError(f"unsupported pinpoint path {path!r}")
    if attributes:
        item["Attributes"] = attributes
    if metrics:
        item["Metrics"] = metrics
    if user_attributes:
        user["UserAttributes"] = user_attributes
    if user:
        item["User"] = user
    if demographic:
        item["Demographic"] = demographic
    if location:
        item["Location"] = location
    return item, notes


def _check_map(label: str, values: Mapping[str, Any], limits: PayloadLimits, problems: list[str], lists: bool) -> None:
    for name, value in values.items():
        if len(name) > limits.max_name_chars:
            problems.append(f"{label} name {name[:60]!r} is longer than {limits.max_name_chars} characters")
        if not lists:
            continue
        if len(value) > limits.max_values_per_attribute:
            problems.append(f"{label}.{name} has {len(value)} values (max {limits.max_values_per_attribute})")
        for text in value:
            if len(text) > limits.max_value_chars:
                problems.append(f"{label}.{name} has a value of {len(text)} characters (max {limits.max_value_chars})")
                break


def item_size(item: Mapping[str, Any]) -> int:
    """Serialized size in bytes of one item, as botocore sends it (compact JSON, UTF-8)."""
    return len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def validate_item(item: Mapping[str, Any], limits: PayloadLimits | None = None) -> list[str]:
    """Pre-flight checks against Pinpoint's limits; returns the problems (empty when valid)."""
    limits = limits or PayloadLimits()
    problems: list[str] = []
    if not item.get("Id"):
        problems.append("missing Id")
    channel = item.get("ChannelType")
    if channel is not None and channel not in CHANNEL_TYPES:
        problems.append(f"ChannelType {channel!r} is not one of {sorted(CHANNEL_TYPES)}")
    opt_out = item.get("OptOut")
    if opt_out is not None and opt_out not in OPT_OUT_VALUES:
        problems.append(f"OptOut {opt_out!r} must be ALL or NONE")
    _check_map("Attributes", item.get("Attributes", {}), limits, problems, lists=True)
    _check_map("Metrics", item.get("Metrics", {}), limits, problems, lists=False)
    _check_map("User.UserAttributes", item.get("User", {}).get("UserAttributes", {}), limits, problems, True)
    size = item_size(item)
    if size > limits.max_endpoint_bytes:
        problems.append(f"endpoint is {size} bytes (max {limits.max_endpoint_bytes})")
    return problems
