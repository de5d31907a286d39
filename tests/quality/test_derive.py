"""Derived frames: the message timeline (pandas == DuckDB SQL), the attribute catalog, segment members."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from engagement_warehouse.quality.derive import (
    MESSAGE_TIMELINE_SQL,
    attribute_catalog,
    custom_attribute_name,
    message_timeline,
    raw_relation,
    segment_members_sql,
    staged_batches,
)

from .conftest import T0, email_event, pinpoint_events_frame

MINUTE = dt.timedelta(minutes=1)


def quirky_events() -> pd.DataFrame:
    sms = email_event("ev9", "_SMS.SUCCESS", "ignored", T0, T0 + MINUTE)
    sms["facets"] = None
    sms["attributes"] = '{"message_id": "sms-1"}'
    return pinpoint_events_frame(
        [
            email_event("ev1", "_email.open", "m1", T0, T0 + MINUTE),
            email_event("ev2", "_email.delivered", "m1", T0, T0 + 2 * MINUTE),
            email_event("ev2", "_email.delivered", "m1", T0, T0 + 2 * MINUTE),  # exact duplicate row
            email_event("ev3", "_email.delivered", "m1", T0, T0 + 3 * MINUTE),
            email_event("ev4", "_email.send", "m2", T0, T0),
            sms,
        ]
    )


def test_message_timeline_counts_deliveries_and_finds_first_open():
    timeline = message_timeline(quirky_events()).set_index("message_id")
    assert list(timeline.index) == ["m1", "m2", "sms-1"]
    assert timeline.loc["m1", "delivery_count"] == 2  # ev2 counted once
    assert timeline.loc["m1", "first_open_at"] < timeline.loc["m1", "first_delivered_at"]
    assert timeline.loc["m2", "delivery_count"] == 0 and pd.isna(timeline.loc["m2", "first_delivered_at"])
    assert timeline.loc["sms-1", "channel"] == "sms" and timeline.loc["sms-1", "delivery_count"] == 1


def test_pandas_and_duckdb_sql_timelines_agree():
    events = quirky_events()
    con = duckdb.connect()
    from_sql = con.sql(MESSAGE_TIMELINE_SQL.format(relation="events", where="")).df()
    from_pandas = message_timeline(events)
    pd.testing.assert_frame_equal(
        from_sql.astype({"delivery_count": "int64", "message_id": "object", "channel": "object"}),
        from_pandas.astype({"message_id": "object", "channel": "object"}),
    )


def test_empty_events_give_an_empty_timeline_with_its_columns():
    timeline = message_timeline(pinpoint_events_frame([]))
    assert timeline.empty
    assert list(timeline.columns) == [
        "message_id",
        "channel",
        "delivery_count",
        "first_delivered_at",
        "first_open_at",
    ]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("User.UserAttributes.LifecycleStage", "LifecycleStage"),
        ("Attributes.loyalty_tier", "loyalty_tier"),
        ("Metrics.LifetimeRevenue", "LifetimeRevenue"),
        ("User.UserId", None),
        ("Id", None),
        ("Address", None),
    ],
)
def test_custom_attribute_name(path, name):
    assert custom_attribute_name(path) == name


def test_attribute_catalog_rows():
    catalog = attribute_catalog([("endpoint_id", "Id"), ("clv_tier", "User.UserAttributes.ClvTier")])
    assert catalog.to_dict("records") == [
        {"column_name": "endpoint_id", "pinpoint_path": "Id", "attribute_name": None},
        {
            "column_name": "clv_tier",
            "pinpoint_path": "User.UserAttributes.ClvTier",
            "attribute_name": "ClvTier",
        },
    ]


def test_segment_members_sql_joins_members_to_endpoints():
    con = duckdb.connect()
    con.sql("create schema marts; create schema segments")
    con.sql(
        "create table marts.endpoint_segment_attributes as select * from (values "
        "('e1', 'NONE', 'a@example.com'), ('e2', 'ALL', '+12065550100')) t(endpoint_id, opt_out, address)"
    )
    con.sql(
        "create table segments.segment_vip as select * from (values ('e1', 'u1'), ('e2', 'u2')) t(endpoint_id, user_id)"
    )
    con.sql("create table segments.segment_o as select * from (values ('e9', 'u9')) t(endpoint_id, user_id)")
    sql = segment_members_sql({"VIP": "segments.segment_vip", "O'Brien fans": "segments.segment_o"})
    rows = con.sql(sql).fetchall()
    assert rows == [
        ("O'Brien fans", "e9", None, None),
        ("VIP", "e1", "NONE", "a@example.com"),
        ("VIP", "e2", "ALL", "+12065550100"),
    ]
    with pytest.raises(ValueError):
        segment_members_sql({})


def test_staged_batches_reads_the_interval_and_derives_the_timeline(staged_frames):
    con = duckdb.connect()
    con.sql("create schema raw")
    events = quirky_events()  # noqa: F841 - read by DuckDB below
    endpoints = staged_frames["raw_pinpoint_endpoints"]  # noqa: F841
    con.sql("create table raw.pinpoint_events as select * from events")
    con.sql("create table raw.pinpoint_endpoints as select * from endpoints")
    batches = staged_batches(con, "ingest_engagement", "arrival_hour >= ?", [T0])
    assert set(batches) == {"raw_pinpoint_events", "raw_pinpoint_endpoints", "pinpoint_message_timeline"}
    assert len(batches["raw_pinpoint_events"]) == 6
    assert len(batches["pinpoint_message_timeline"]) == 3
    assert staged_batches(con, "ingest_engagement", "arrival_hour > ?", [T0])["raw_pinpoint_events"].empty


def test_raw_relation():
    assert raw_relation("raw_partner_acme_loyalty") == "raw.partner_acme_loyalty"
    assert raw_relation("raw_pinpoint_events") == "raw.pinpoint_events"
    with pytest.raises(KeyError):
        raw_relation("export_segments")
