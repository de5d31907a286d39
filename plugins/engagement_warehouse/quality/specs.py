"""The quality rules, declared once: suites, the assets they guard and the checkpoint of each DAG.

This module is the source the GX file context in `expectations/gx/` is generated from (see
`bootstrap.ensure_context`). The committed JSON suites are what runs; this declaration exists so that the
suites are reviewable as code, regenerated identically, and checked for drift by the tests.

Every expectation carries `meta.severity`: `fail` blocks downstream tasks, `warn` is recorded and reported
but never blocks. GX's own `severity` field is set to match (`fail` -> critical, `warn` -> warning) so that
Data Docs and the JSON tell the same story; the gate reads `meta.severity` (missing = fail).

No Great Expectations import here: DAG files import this package at parse time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import yaml

from engagement_warehouse.pinpoint_facts import (
    CHANNEL_TYPES,
    E164_PATTERN,
    MAX_ATTRIBUTE_NAME_LENGTH,
    MAX_ATTRIBUTE_VALUE_LENGTH,
    MAX_CUSTOM_ATTRIBUTES,
    MAX_VALUES_PER_ATTRIBUTE,
)
from engagement_warehouse.sources.staged_schemas import (
    CLICKSTREAM_EVENTS,
    LINEAGE_FIELDS,
    PINPOINT_ENDPOINTS,
    PINPOINT_EVENTS,
)

Severity = Literal["fail", "warn"]
SEVERITIES: tuple[Severity, ...] = ("fail", "warn")
GX_SEVERITY: dict[Severity, str] = {"fail": "critical", "warn": "warning"}

DATASOURCE_NAME = "engagement_warehouse"
"""The pandas datasource holding one dataframe asset per guarded table (batches are passed at run time)."""
BATCH_DEFINITION_NAME = "whole_frame"
CONTRACTS_DIR = Path(__file__).resolve().parents[1] / "sources" / "contracts"

# Pinpoint limits (reference/pinpoint.md), shared with landing and the exporter.
E164_REGEX = E164_PATTERN
EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

# pandas dtype names accepted per logical type (what duckdb's `.df()` and hand-built frames produce).
# Strings include `object`: a VARCHAR column whose values are all NULL comes back as object dtype.
STRING_DTYPES = ["str", "string", "object"]
INTEGER_DTYPES = [
    *(f"int{bits}" for bits in (8, 16, 32, 64)),
    *(f"Int{bits}" for bits in (8, 16, 32, 64)),
    *(f"uint{bits}" for bits in (8, 16, 32, 64)),
    *(f"UInt{bits}" for bits in (8, 16, 32, 64)),
]
FLOAT_DTYPES = ["float32", "float64", "Float32", "Float64"]
NUMERIC_DTYPES = [*INTEGER_DTYPES, *FLOAT_DTYPES, "int", "float"]
"""`int`/`float` also accept Python numbers inside an object column, so only the non-numbers are reported."""
TIMESTAMP_DTYPES = [f"datetime64[{unit}]" for unit in ("s", "ms", "us", "ns")]
BOOLEAN_DTYPES = ["bool", "boolean"]

# Exported string columns of marts.endpoint_segment_attributes that become Pinpoint attribute values.
# Adding an exported string attribute = adding its column here, then regenerating the suite with
# `python -m engagement_warehouse.quality.bootstrap --update`.
EXPORT_STRING_ATTRIBUTES = (
    "user_id",
    "lifecycle_stage",
    "clv_tier",
    "usage_tier",
    "preferred_category",
    "loyalty_tier",
)
EXPORT_MULTI_VALUED_ATTRIBUTES = {"recommended_items": "|"}
EXPORT_METRICS = ("lifetime_orders", "lifetime_revenue", "days_since_last_order")

# The columns of the frames quality.derive builds for the volume and freshness suites (their contract).
VOLUME_COLUMNS = [
    "source_table",
    "rows_today",
    "baseline_rows",
    "history_days",
    "min_expected_rows",
    "max_expected_rows",
]
FRESHNESS_COLUMNS = ["source_table", "latest_arrival_hour", "hours_behind", "max_hours_behind"]


def expectation(
    type_: str,
    description: str,
    severity: Severity = "fail",
    **kwargs: Any,
) -> dict[str, Any]:
    """One expectation configuration, as GX serialises it in a suite's JSON.

    `description` is the operator-facing name of the rule (it is what the gate prints on failure).
    """
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    return {
        "type": type_,
        "kwargs": kwargs,
        "meta": {"severity": severity},
        "description": description,
        "severity": GX_SEVERITY[severity],
    }


@dataclass(frozen=True)
class SuiteSpec:
    """One expectation suite, named after the asset (table, export or derived frame) it guards."""

    name: str
    description: str
    expectations: tuple[dict[str, Any], ...]

    @property
    def asset(self) -> str:
        """Suite and dataframe asset share one name: the thing guarded."""
        return self.name


def _dtypes_for(arrow_type: pa.DataType) -> list[str]:
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return STRING_DTYPES
    if pa.types.is_integer(arrow_type):
        return INTEGER_DTYPES
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return FLOAT_DTYPES
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return TIMESTAMP_DTYPES
    if pa.types.is_boolean(arrow_type):
        return BOOLEAN_DTYPES
    raise ValueError(f"no pandas dtype mapping for Arrow type {arrow_type}")


def schema_expectations(schema: pa.Schema, table: str) -> list[dict[str, Any]]:
    """Expected columns (exactly), not-null for non-nullable fields, pandas dtype per column."""
    rules = [
        expectation(
            "expect_table_columns_to_match_set",
            f"{table} has exactly the staged-schema columns",
            column_set=list(schema.names),
            exact_match=True,
        )
    ]
    for field in schema:
        if not field.nullable:
            rules.append(
                expectation(
                    "expect_column_values_to_not_be_null",
                    f"{table}.{field.name} is never null",
                    column=field.name,
                )
            )
    for field in schema:
        rules.append(
            expectation(
                "expect_column_values_to_be_in_type_list",
                f"{table}.{field.name} has type {field.type}",
                column=field.name,
                type_list=_dtypes_for(field.type),
            )
        )
    return rules


def volume_expectation(table: str) -> dict[str, Any]:
    """Row count > 0, as a warning: an empty hour is possible, a silent feed should be noticed."""
    return expectation(
        "expect_table_row_count_to_be_between",
        f"{table} received rows in this run",
        severity="warn",
        min_value=1,
        max_value=None,
    )


def _staged_suite(name: str, schema: pa.Schema, description: str, extra: Iterable[dict[str, Any]] = ()) -> SuiteSpec:
    return SuiteSpec(
        name=name,
        description=description,
        expectations=(*schema_expectations(schema, name), volume_expectation(name), *extra),
    )


def _partner_suites(contracts_dir: Path = CONTRACTS_DIR) -> list[SuiteSpec]:
    """One suite per partner contract: the contract columns plus file_date and the lineage columns."""
    partner_types = {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
    }
    suites = []
    for path in sorted(contracts_dir.glob("*.yml")):
        contract = yaml.safe_load(path.read_text(encoding="utf-8"))
        name = f"raw_partner_{contract['partner']}"
        fields = [
            pa.field(
                column["name"],
                partner_types[column["type"]],
                nullable=not (column.get("required", False) or column["name"] == contract["key"]),
            )
            for column in contract["columns"]
        ]
        schema = pa.schema([*fields, pa.field("file_date", pa.date32(), nullable=False), *LINEAGE_FIELDS])
        extra = []
        if contract.get("key_is_email_sha256"):
            extra.append(
                expectation(
                    "expect_column_values_to_match_regex",
                    f"{name}.{contract['key']} is a lowercase SHA-256 hex digest (never a plaintext email)",
                    column=contract["key"],
                    regex=r"^[0-9a-f]{64}$",
                )
            )
        suites.append(
            _staged_suite(name, schema, f"raw.partner_{contract['partner']}: {contract['description']}", extra)
        )
    return suites


def _pinpoint_events_suite() -> SuiteSpec:
    return _staged_suite(
        "raw_pinpoint_events",
        PINPOINT_EVENTS,
        "raw.pinpoint_events: one row per Pinpoint event-stream record as landed.",
        extra=[
            expectation(
                "expect_column_pair_values_a_to_be_greater_than_b",
                "Pinpoint arrival_timestamp is not earlier than event_timestamp (a known Pinpoint quirk)",
                severity="warn",
                column_A="arrival_at",
                column_B="event_at",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            )
        ],
    )


def _message_timeline_suite() -> SuiteSpec:
    name = "pinpoint_message_timeline"
    return SuiteSpec(
        name=name,
        description=(
            "Derived from raw.pinpoint_events by quality.derive.MESSAGE_TIMELINE_SQL: one row per message_id "
            "with its delivery count, first delivery and first open."
        ),
        expectations=(
            expectation(
                "expect_table_columns_to_match_set",
                f"{name} has the derived columns",
                column_set=["message_id", "channel", "delivery_count", "first_delivered_at", "first_open_at"],
                exact_match=True,
            ),
            expectation(
                "expect_column_values_to_not_be_null",
                f"{name}.message_id is never null",
                column="message_id",
            ),
            expectation(
                "expect_column_values_to_be_between",
                "At most one delivery event per message_id (many deliveries sharing one message_id is a "
                "known Pinpoint quirk: the event grain is not message_id)",
                severity="warn",
                column="delivery_count",
                min_value=None,
                max_value=1,
            ),
            expectation(
                "expect_column_pair_values_a_to_be_greater_than_b",
                "A message's first open is not earlier than its first delivery (a known Pinpoint quirk)",
                severity="warn",
                column_A="first_open_at",
                column_B="first_delivered_at",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
        ),
    )


def _export_attributes_suite() -> SuiteSpec:
    name = "export_endpoint_segment_attributes"
    rules: list[dict[str, Any]] = [
        expectation(
            "expect_table_columns_to_match_set",
            f"{name} has the endpoint columns the exporter needs",
            column_set=["endpoint_id", "channel_type", "address", "opt_out"],
            exact_match=False,
        ),
        expectation("expect_column_values_to_not_be_null", "endpoint_id is never null", column="endpoint_id"),
        expectation("expect_column_values_to_be_unique", "endpoint_id is unique", column="endpoint_id"),
        expectation(
            "expect_column_values_to_be_in_set",
            "channel_type is a Pinpoint ChannelType",
            column="channel_type",
            value_set=sorted(CHANNEL_TYPES),
        ),
        expectation(
            "expect_column_values_to_match_regex",
            "SMS/VOICE address is E.164 (+ then up to 15 digits)",
            column="address",
            regex=E164_REGEX,
            row_condition={
                "type": "comparison",
                "column": {"name": "channel_type"},
                "operator": "IN",
                "parameter": ["SMS", "VOICE"],
            },
        ),
        expectation(
            "expect_column_values_to_match_regex",
            "EMAIL address is a valid email address",
            column="address",
            regex=EMAIL_REGEX,
            row_condition={
                "type": "comparison",
                "column": {"name": "channel_type"},
                "operator": "==",
                "parameter": "EMAIL",
            },
        ),
        expectation(
            "expect_column_values_to_be_unique",
            "no address is shared by two endpoint ids (Pinpoint would deactivate one of them)",
            column="address",
        ),
        expectation(
            "expect_column_values_to_not_be_in_set",
            "no opted-out endpoint (opt_out = ALL) is exported",
            column="opt_out",
            value_set=["ALL"],
        ),
    ]
    for column in EXPORT_STRING_ATTRIBUTES:
        rules.append(
            expectation(
                "expect_column_value_lengths_to_be_between",
                f"{column} values are at most {MAX_ATTRIBUTE_VALUE_LENGTH} characters (Pinpoint limit)",
                column=column,
                min_value=None,
                max_value=MAX_ATTRIBUTE_VALUE_LENGTH,
            )
        )
    for column, separator in EXPORT_MULTI_VALUED_ATTRIBUTES.items():
        sep = "\\" + separator
        value = rf"[^{sep}]{{0,{MAX_ATTRIBUTE_VALUE_LENGTH}}}"  # one value of at most 100 characters
        rules.append(
            expectation(
                "expect_column_values_to_match_regex",
                f"{column} has at most {MAX_VALUES_PER_ATTRIBUTE} '{separator}'-separated values (Pinpoint limit)",
                column=column,
                regex=rf"^[^{sep}]*(?:{sep}[^{sep}]*){{0,{MAX_VALUES_PER_ATTRIBUTE - 1}}}$",
            )
        )
        rules.append(
            expectation(
                "expect_column_values_to_match_regex",
                f"each '{separator}'-separated {column} value is at most {MAX_ATTRIBUTE_VALUE_LENGTH} "
                "characters (Pinpoint limit)",
                column=column,
                regex=rf"^{value}(?:{sep}{value})*$",
            )
        )
    for column in EXPORT_METRICS:
        rules.append(
            expectation(
                "expect_column_values_to_be_in_type_list",
                f"{column} is numeric (Pinpoint Metrics are numbers only)",
                column=column,
                type_list=NUMERIC_DTYPES,
            )
        )
    return SuiteSpec(
        name=name,
        description="marts.endpoint_segment_attributes as it is about to be exported: one row per endpoint.",
        expectations=tuple(rules),
    )


def _attribute_catalog_suite() -> SuiteSpec:
    name = "export_attribute_catalog"
    return SuiteSpec(
        name=name,
        description=(
            "One row per exported column (quality.derive.attribute_catalog): column_name, pinpoint_path, "
            "attribute_name (the custom attribute name, null for standard fields such as Id or Address)."
        ),
        expectations=(
            expectation(
                "expect_table_columns_to_match_set",
                f"{name} has the catalog columns",
                column_set=["column_name", "pinpoint_path", "attribute_name"],
                exact_match=True,
            ),
            expectation("expect_column_values_to_not_be_null", "pinpoint_path is never null", column="pinpoint_path"),
            expectation(
                "expect_column_values_to_be_unique",
                "each Pinpoint path is fed by one column only",
                column="pinpoint_path",
            ),
            expectation(
                "expect_column_value_lengths_to_be_between",
                f"custom attribute names are at most {MAX_ATTRIBUTE_NAME_LENGTH} characters (Pinpoint limit)",
                column="attribute_name",
                min_value=1,
                max_value=MAX_ATTRIBUTE_NAME_LENGTH,
            ),
            expectation(
                "expect_column_unique_value_count_to_be_between",
                f"at most {MAX_CUSTOM_ATTRIBUTES} distinct custom attributes per project (Pinpoint limit)",
                column="attribute_name",
                min_value=None,
                max_value=MAX_CUSTOM_ATTRIBUTES,
            ),
            expectation(
                "expect_column_values_to_not_match_regex",
                "custom attribute names avoid # : ? \\ / (Pinpoint advice)",
                severity="warn",
                column="attribute_name",
                regex=r"[#:?\\/]",
            ),
        ),
    )


def _segments_suite() -> SuiteSpec:
    name = "export_segments"
    return SuiteSpec(
        name=name,
        description=(
            "Segment members joined to their endpoint attributes (quality.derive.segment_members_sql): "
            "segment_name, endpoint_id, opt_out, address."
        ),
        expectations=(
            expectation(
                "expect_table_columns_to_match_set",
                f"{name} has the segment member columns",
                column_set=["segment_name", "endpoint_id", "opt_out", "address"],
                exact_match=False,
            ),
            expectation("expect_column_values_to_not_be_null", "segment_name is never null", column="segment_name"),
            expectation(
                "expect_column_values_to_not_be_null",
                "endpoint_id is never null (every member resolves to an endpoint)",
                column="endpoint_id",
            ),
            expectation(
                "expect_compound_columns_to_be_unique",
                "an endpoint appears at most once per segment",
                column_list=["segment_name", "endpoint_id"],
            ),
            expectation(
                "expect_column_values_to_not_be_in_set",
                "no segment member is opted out (opt_out = ALL)",
                column="opt_out",
                value_set=["ALL"],
            ),
        ),
    )


def _staged_volume_suite() -> SuiteSpec:
    name = "staged_volume"
    return SuiteSpec(
        name=name,
        description=(
            "One row per staged table of the ingest DAG: the day's staged rows against the median of the recent "
            "landing manifests (quality.derive.staged_volume_batch); no band until 3 days of history exist."
        ),
        expectations=(
            expectation(
                "expect_table_columns_to_match_set",
                f"{name} has the volume columns",
                column_set=VOLUME_COLUMNS,
                exact_match=True,
            ),
            expectation(
                "expect_column_pair_values_a_to_be_greater_than_b",
                "the day's staged rows did not drop below the recent median divided by EWH_VOLUME_FACTOR (default 3)",
                severity="warn",
                column_A="rows_today",
                column_B="min_expected_rows",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
            expectation(
                "expect_column_pair_values_a_to_be_greater_than_b",
                "the day's staged rows did not spike above the recent median times EWH_VOLUME_FACTOR (default 3)",
                severity="warn",
                column_A="max_expected_rows",
                column_B="rows_today",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
        ),
    )


def _source_freshness_suite() -> SuiteSpec:
    name = "export_source_freshness"
    return SuiteSpec(
        name=name,
        description=(
            "One row per raw table behind the export models (dbt lineage), with its newest arrival_hour and "
            "how many hours it lies before the end of the run's as_of day (quality.derive.source_freshness)."
        ),
        expectations=(
            expectation(
                "expect_table_columns_to_match_set",
                f"{name} has the freshness columns",
                column_set=FRESHNESS_COLUMNS,
                exact_match=True,
            ),
            expectation(
                "expect_column_values_to_not_be_null",
                "every source behind the export has landed rows",
                column="latest_arrival_hour",
            ),
            expectation(
                "expect_column_pair_values_a_to_be_greater_than_b",
                "every source behind the export received rows within the freshness limit before the run's day "
                "end (max_hours_behind >= hours_behind; limit: EWH_SOURCE_FRESHNESS_HOURS, default 48)",
                column_A="max_hours_behind",
                column_B="hours_behind",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
        ),
    )


def all_suites() -> dict[str, SuiteSpec]:
    """Every suite, by name (= the asset it guards)."""
    suites = [
        _staged_suite(
            "raw_clickstream_events",
            CLICKSTREAM_EVENTS,
            "raw.clickstream_events: one row per Segment-spec clickstream call as landed.",
        ),
        _pinpoint_events_suite(),
        _staged_suite(
            "raw_pinpoint_endpoints",
            PINPOINT_ENDPOINTS,
            "raw.pinpoint_endpoints: one row per endpoint per Pinpoint export as landed.",
        ),
        *_partner_suites(),
        _message_timeline_suite(),
        _export_attributes_suite(),
        _attribute_catalog_suite(),
        _segments_suite(),
        _source_freshness_suite(),
        _staged_volume_suite(),
    ]
    return {suite.name: suite for suite in suites}


def checkpoints() -> dict[str, tuple[str, ...]]:
    """Checkpoint name (one per DAG) -> the assets it validates, in order."""
    partner_assets = tuple(name for name in all_suites() if name.startswith("raw_partner_"))
    return {
        "ingest_clickstream": ("raw_clickstream_events", "staged_volume"),
        "ingest_engagement": (
            "raw_pinpoint_events",
            "raw_pinpoint_endpoints",
            "pinpoint_message_timeline",
            "staged_volume",
        ),
        "ingest_partner": (*partner_assets, "staged_volume"),
        "build_marts": (
            "export_endpoint_segment_attributes",
            "export_attribute_catalog",
            "export_segments",
            "export_source_freshness",
        ),
    }
