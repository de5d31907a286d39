"""Fixtures: a tiny warehouse (export model + segment models) and a matching fake dbt manifest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import boto3
import duckdb
import pytest

APP_ID = "app-test"
LOGICAL_DATE = date(2026, 11, 23)
ROLE_ARN = "arn:aws:iam::000000000000:role/ewh-test-import"


def _column(name: str, meta: dict | None = None, config_meta: dict | None = None) -> dict:
    column: dict = {"name": name, "description": "", "meta": meta or {}, "data_type": None}
    column["config"] = {"meta": config_meta or {}}
    return column


def manifest_dict() -> dict:
    """A dbt-manifest-shaped dict: export model v1 (stale) and v2 (latest), segments, distractors."""
    export_v2_columns = {
        "endpoint_id": _column("endpoint_id", {"pinpoint": "Id"}),
        "address": _column("address", {"pinpoint": "Address"}),
        "channel_type": _column("channel_type", config_meta={"pinpoint": "ChannelType"}),
        "opt_out": _column("opt_out", {"pinpoint": "OptOut"}),
        "user_id": _column("user_id", {"pinpoint": "User.UserId"}),
        "loyalty_tier": _column("loyalty_tier", config_meta={"pinpoint": "Attributes.loyalty_tier"}),
        "interests": _column(
            "interests",
            {"pinpoint": "User.UserAttributes.interests"},
            {"pinpoint_multi_value_separator": "|"},
        ),
        "lifetime_value": _column("lifetime_value", {"pinpoint": "Metrics.lifetime_value"}),
        "internal_note": _column("internal_note"),  # not exported: no pinpoint meta
    }
    export_v1_columns = {
        "endpoint_id": _column("endpoint_id", {"pinpoint": "Id"}),
        "old_column": _column("old_column", {"pinpoint": "Attributes.old"}),
    }

    def model(name: str, version: int | None, path: str, schema: str, columns: dict, **extra: object) -> dict:
        suffix = f".v{version}" if version is not None else ""
        return {
            "unique_id": f"model.engagement_warehouse.{name}{suffix}",
            "resource_type": "model",
            "package_name": "engagement_warehouse",
            "name": name,
            "alias": extra.pop("alias", name if version is None else f"{name}_v{version}"),
            "schema": schema,
            "database": "warehouse",
            "relation_name": f'"warehouse"."{schema}"."{name}"',
            "path": path,
            "original_file_path": f"models/{path}",
            "version": version,
            "latest_version": 2 if version is not None else None,
            "columns": columns,
            "meta": extra.pop("meta", {}),
            "config": {"meta": extra.pop("config_meta", {})},
        }

    nodes = [
        model(
            "endpoint_segment_attributes",
            1,
            "marts/endpoint_segment_attributes_v1.sql",
            "marts",
            export_v1_columns,
        ),
        model(
            "endpoint_segment_attributes",
            2,
            "marts/endpoint_segment_attributes_v2.sql",
            "marts",
            export_v2_columns,
        ),
        model(
            "seg_gold_members",
            None,
            "segments/seg_gold_members.sql",
            "segments",
            {"endpoint_id": _column("endpoint_id")},
            meta={"pinpoint_segment": "Gold members"},
        ),
        model(
            "seg_lapsed",
            None,
            "segments/seg_lapsed.sql",
            "segments",
            {"member": _column("member", {"pinpoint": "Id"})},
            config_meta={"pinpoint_segment": "Lapsed"},
        ),
        model("seg_draft", None, "segments/seg_draft.sql", "segments", {}),  # no pinpoint_segment: ignored
        model(
            "user_profiles",
            None,
            "marts/user_profiles.sql",
            "marts",
            {},
            meta={"pinpoint_segment": "Not a segment model"},
        ),  # not under segments/: ignored
    ]
    return {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
        "nodes": {n["unique_id"]: n for n in nodes},
    }


@pytest.fixture
def manifest_path(tmp_path: Path) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest_dict()), encoding="utf-8")
    return path


EXPORT_ROWS = [
    # endpoint_id, address, channel, opt_out, user_id, tier, interests, ltv, note
    ("ep-1", "a@example.com", "EMAIL", "NONE", "u-1", "gold", "running|cycling", 120.5, "x"),
    ("ep-2", "b@example.com", "EMAIL", "NONE", "u-2", "silver", "reading", 10.0, "y"),
    ("ep-3", "+12065550100", "SMS", "ALL", "u-3", None, None, None, "z"),
]


def create_warehouse(conn: duckdb.DuckDBPyConnection, rows: list[tuple] = EXPORT_ROWS) -> None:
    conn.execute("create schema if not exists marts")
    conn.execute("create schema if not exists segments")
    conn.execute(
        """create or replace table marts.endpoint_segment_attributes (
            endpoint_id varchar, address varchar, channel_type varchar, opt_out varchar, user_id varchar,
            loyalty_tier varchar, interests varchar, lifetime_value double, internal_note varchar)"""
    )
    conn.executemany("insert into marts.endpoint_segment_attributes values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("create or replace table segments.seg_gold_members as select 'ep-1' as endpoint_id")
    conn.execute("create or replace table segments.seg_lapsed (member varchar)")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    create_warehouse(connection)
    yield connection
    connection.close()


@pytest.fixture
def pinpoint_client():
    return boto3.client("pinpoint", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")


def accepted_response() -> dict:
    return {
        "MessageBody": {"Message": "Accepted", "RequestID": "r-1"},
        "ResponseMetadata": {"HTTPStatusCode": 202},
    }
