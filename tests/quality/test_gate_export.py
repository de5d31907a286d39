"""The export suites (all fail): endpoint attributes, attribute catalog and segment membership."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from engagement_warehouse.quality.derive import attribute_catalog, source_freshness
from engagement_warehouse.quality.specs import EXPORT_METRICS, EXPORT_STRING_ATTRIBUTES

from .test_gate_staged import find

CATALOG_PATHS = [
    ("endpoint_id", "Id"),
    ("channel_type", "ChannelType"),
    ("address", "Address"),
    ("opt_out", "OptOut"),
    ("user_id", "User.UserId"),
    ("lifecycle_stage", "User.UserAttributes.LifecycleStage"),
    ("recommended_items", "Attributes.RecommendedItems"),
    ("lifetime_revenue", "Metrics.LifetimeRevenue"),
]


def endpoints() -> pd.DataFrame:
    """Three clean endpoints, one per channel rule (EMAIL, SMS, VOICE)."""
    return pd.DataFrame(
        {
            "endpoint_id": ["e1", "e2", "e3"],
            "channel_type": ["EMAIL", "SMS", "VOICE"],
            "address": ["jane@example.com", "+12065550100", "+442071838750"],
            "opt_out": ["NONE", "NONE", "NONE"],
            "user_id": ["u1", "u2", "u3"],
            "lifecycle_stage": ["active", "new", "lapsed"],
            "clv_tier": ["high", "low", None],
            "usage_tier": ["power", "light", "light"],
            "preferred_category": ["books", None, "garden"],
            "recommended_items": ["sku-1|sku-2", "|".join(f"sku-{i}" for i in range(50)), None],
            "loyalty_tier": ["gold", None, None],
            "lifetime_orders": [3, 0, 1],
            "lifetime_revenue": [120.5, 0.0, np.nan],
            "days_since_last_order": [4.0, np.nan, 200.0],
        }
    )


def segments() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "segment_name": ["vip", "vip", "lapsed"],
            "endpoint_id": ["e1", "e2", "e1"],
            "opt_out": ["NONE", "NONE", "NONE"],
            "address": ["jane@example.com", "+12065550100", "jane@example.com"],
        }
    )


RUN_END = dt.datetime(2026, 11, 2)


def latest_arrivals(**hours_before_run_end: float | None) -> pd.DataFrame:
    """`latest_arrival_sql`'s result: per source, its newest arrival_hour (None: the table is empty)."""
    hours = {"raw.clickstream_events": 3.0, "raw.pinpoint_events": 1.0, **hours_before_run_end}
    return pd.DataFrame(
        {
            "source_table": list(hours),
            "latest_arrival_hour": [None if h is None else RUN_END - dt.timedelta(hours=h) for h in hours.values()],
        }
    )


def marts(
    attributes: pd.DataFrame | None = None,
    catalog: pd.DataFrame | None = None,
    members: pd.DataFrame | None = None,
    freshness: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    return {
        "export_endpoint_segment_attributes": endpoints() if attributes is None else attributes,
        "export_attribute_catalog": attribute_catalog(CATALOG_PATHS) if catalog is None else catalog,
        "export_segments": segments() if members is None else members,
        "export_source_freshness": source_freshness(latest_arrivals(), RUN_END, 48) if freshness is None else freshness,
    }


def test_clean_export_passes(gate):
    result = gate("build_marts", marts())
    assert result.passed, result.summary()
    assert result.warnings == ()


def _set(column: str, row: int, value) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({column: "object"})
        frame.loc[row, column] = value
        return frame

    return mutate


ATTRIBUTE_RULES = [
    # (id, mutation, expectation type, kwargs naming the check, failing count)
    (
        "endpoint_id null",
        _set("endpoint_id", 1, None),
        "expect_column_values_to_not_be_null",
        {"column": "endpoint_id"},
        1,
    ),
    (
        "endpoint_id duplicate",
        _set("endpoint_id", 1, "e1"),
        "expect_column_values_to_be_unique",
        {"column": "endpoint_id"},
        2,
    ),
    (
        "SMS not E.164",
        _set("address", 1, "2065550100"),
        "expect_column_values_to_match_regex",
        {"column": "address", "regex": r"^\+[1-9]\d{1,14}$"},
        1,
    ),
    (
        "VOICE not E.164",
        _set("address", 2, "+0123"),
        "expect_column_values_to_match_regex",
        {"column": "address", "regex": r"^\+[1-9]\d{1,14}$"},
        1,
    ),
    (
        "SMS too long",
        _set("address", 1, "+1234567890123456"),
        "expect_column_values_to_match_regex",
        {"column": "address", "regex": r"^\+[1-9]\d{1,14}$"},
        1,
    ),
    (
        "EMAIL invalid",
        _set("address", 0, "jane.example.com"),
        "expect_column_values_to_match_regex",
        {"column": "address", "regex": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"},
        1,
    ),
    (
        "opted out",
        _set("opt_out", 2, "ALL"),
        "expect_column_values_to_not_be_in_set",
        {"column": "opt_out"},
        1,
    ),
    (
        "duplicate address",
        _set("address", 2, "+12065550100"),
        "expect_column_values_to_be_unique",
        {"column": "address"},
        2,
    ),
    (
        "unknown channel",
        _set("channel_type", 0, "PIGEON"),
        "expect_column_values_to_be_in_set",
        {"column": "channel_type"},
        1,
    ),
    (
        "51 recommended items",
        _set("recommended_items", 0, "|".join(f"s{i}" for i in range(51))),
        "expect_column_values_to_match_regex",
        {"column": "recommended_items", "regex": r"^[^\|]*(?:\|[^\|]*){0,49}$"},
        1,
    ),
    (
        "recommended item > 100 chars",
        _set("recommended_items", 0, "sku-1|" + "x" * 101),
        "expect_column_values_to_match_regex",
        {"column": "recommended_items", "regex": r"^[^\|]{0,100}(?:\|[^\|]{0,100})*$"},
        1,
    ),
]
ATTRIBUTE_RULES += [
    (
        f"{column} > 100 chars",
        _set(column, 0, "y" * 101),
        "expect_column_value_lengths_to_be_between",
        {"column": column},
        1,
    )
    for column in EXPORT_STRING_ATTRIBUTES
]
ATTRIBUTE_RULES += [
    (
        f"{column} not numeric",
        _set(column, 0, "12.5"),
        "expect_column_values_to_be_in_type_list",
        {"column": column},
        1,
    )
    for column in EXPORT_METRICS
]


@pytest.mark.parametrize(
    ("mutate", "expectation_type", "kwargs", "count"),
    [pytest.param(*rule[1:], id=rule[0]) for rule in ATTRIBUTE_RULES],
)
def test_each_endpoint_attribute_rule_blocks(gate, mutate, expectation_type, kwargs, count):
    result = gate("build_marts", marts(attributes=mutate(endpoints())))
    assert not result.passed
    matches = find(result.failures, expectation_type, **kwargs)
    assert len(matches) == 1, result.summary()
    [failure] = matches
    assert failure.asset == "export_endpoint_segment_attributes"
    assert failure.severity == "fail"
    assert failure.failing_count == count
    assert len(result.failures) <= 2  # the mutation breaks its rule, not the whole suite


def test_email_rule_ignores_phone_addresses_and_sms_rule_ignores_emails(gate):
    # The clean frame mixes channels: the regexes only apply under their channel condition.
    result = gate("build_marts", marts())
    assert not find(result.failures, "expect_column_values_to_match_regex", column="address")


def test_attribute_name_longer_than_50_blocks(gate):
    catalog = attribute_catalog([*CATALOG_PATHS, ("long", "Attributes." + "n" * 51)])
    result = gate("build_marts", marts(catalog=catalog))
    [failure] = find(result.failures, "expect_column_value_lengths_to_be_between", column="attribute_name")
    assert failure.asset == "export_attribute_catalog"
    assert failure.failing_count == 1


def test_more_than_250_custom_attributes_blocks(gate):
    many = [(f"c{i}", f"Attributes.a{i}") for i in range(251)]
    result = gate("build_marts", marts(catalog=attribute_catalog([("endpoint_id", "Id"), *many])))
    [failure] = find(result.failures, "expect_column_unique_value_count_to_be_between", column="attribute_name")
    assert failure.observed_value == 251


def test_250_custom_attributes_pass(gate):
    many = [(f"c{i}", f"Metrics.m{i}") for i in range(250)]
    result = gate("build_marts", marts(catalog=attribute_catalog([("endpoint_id", "Id"), *many])))
    assert result.passed, result.summary()


def test_duplicate_pinpoint_path_blocks(gate):
    catalog = attribute_catalog([*CATALOG_PATHS, ("stage_again", "User.UserAttributes.LifecycleStage")])
    result = gate("build_marts", marts(catalog=catalog))
    [failure] = find(result.failures, "expect_column_values_to_be_unique", column="pinpoint_path")
    assert failure.failing_count == 2


def test_reserved_characters_in_attribute_name_only_warn(gate):
    catalog = attribute_catalog([*CATALOG_PATHS, ("odd", "Attributes.a/b")])
    result = gate("build_marts", marts(catalog=catalog))
    assert result.passed
    [warning] = find(result.warnings, "expect_column_values_to_not_match_regex", column="attribute_name")
    assert warning.sample == ("a/b",)


SEGMENT_RULES = [
    (
        "member without endpoint id",
        _set("endpoint_id", 0, None),
        "expect_column_values_to_not_be_null",
        {"column": "endpoint_id"},
    ),
    ("endpoint twice in a segment", _set("endpoint_id", 1, "e1"), "expect_compound_columns_to_be_unique", {}),
    (
        "opted-out member",
        _set("opt_out", 2, "ALL"),
        "expect_column_values_to_not_be_in_set",
        {"column": "opt_out"},
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expectation_type", "kwargs"), [pytest.param(*rule[1:], id=rule[0]) for rule in SEGMENT_RULES]
)
def test_each_segment_rule_blocks(gate, mutate, expectation_type, kwargs):
    result = gate("build_marts", marts(members=mutate(segments())))
    assert not result.passed
    [failure] = find(result.failures, expectation_type, **kwargs)
    assert failure.asset == "export_segments"
    assert failure.failing_count and failure.failing_count >= 1
