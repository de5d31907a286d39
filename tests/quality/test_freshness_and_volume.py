"""Derived frames of the gate: source freshness behind the export, and staged volume against recent runs."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from engagement_warehouse.lake import Lake
from engagement_warehouse.quality.derive import (
    DEFAULT_FRESHNESS_HOURS,
    DEFAULT_VOLUME_FACTOR,
    declared_freshness_hours,
    export_sources,
    freshness_limit_hours,
    landed_rows_by_day,
    latest_arrival_sql,
    source_freshness,
    staged_volume,
    volume_factor,
)

from .test_gate_export import RUN_END, latest_arrivals, marts
from .test_gate_staged import find


def lineage_manifest() -> dict:
    """export <- int_x <- (source a, source b); segment <- export; an unrelated model <- source c."""
    source = {
        f"source.p.raw.{name}": {"name": name, "schema": "raw", "identifier": ident, "loaded_at_field": field}
        for name, ident, field in (("a", "a_table", "arrival_hour"), ("b", None, None), ("c", "c", "arrival_hour"))
    }
    return {
        "nodes": {"model.p.unrelated": {"depends_on": {"nodes": ["source.p.raw.c"]}}},
        "sources": source,
        "parent_map": {
            "model.p.export": ["model.p.int_x"],
            "model.p.int_x": ["source.p.raw.a", "source.p.raw.b", "model.p.int_x"],
            "model.p.segment": ["model.p.export"],
            "model.p.unrelated": ["source.p.raw.c"],
        },
    }


def test_export_sources_walk_the_lineage_to_the_sources():
    found = export_sources(lineage_manifest(), ["model.p.segment"])
    assert found == [
        ("raw.a_table", '"raw"."a_table"', "arrival_hour"),
        ("raw.b", '"raw"."b"', "arrival_hour"),  # no identifier / loaded_at_field: name and arrival_hour
    ]


def test_export_sources_fall_back_to_depends_on_without_a_parent_map():
    manifest = lineage_manifest()
    del manifest["parent_map"]
    assert [name for name, _, _ in export_sources(manifest, ["model.p.unrelated"])] == ["raw.c"]


def test_each_source_keeps_the_freshness_dbt_declares_for_it():
    manifest = lineage_manifest()
    manifest["sources"]["source.p.raw.a"]["freshness"] = {"error_after": {"count": 8, "period": "day"}}
    manifest["sources"]["source.p.raw.b"]["freshness"] = {"error_after": {"count": None, "period": None}}
    limits = declared_freshness_hours(manifest)
    assert limits == {"raw.a_table": 192.0}  # b declares none: it falls back to the global limit
    latest = (
        duckdb.connect()
        .execute(
            "select * from (values ('raw.a_table', timestamp '2026-11-16 00:00'),"
            " ('raw.b', timestamp '2026-11-16 00:00')) as t(source_table, latest_arrival_hour)"
        )
        .df()
    )
    frame = source_freshness(latest, dt.datetime(2026, 11, 23), 48.0, limits)
    by_table = dict(zip(frame["source_table"], frame["max_hours_behind"], strict=True))
    assert by_table == {"raw.a_table": 192.0, "raw.b": 48.0}
    assert list(frame["hours_behind"]) == [168.0, 168.0]  # a weekly feed passes, the daily one is late


def test_latest_arrival_sql_and_frame_on_duckdb():
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute("create table raw.a_table (arrival_hour timestamp)")
    con.execute("create table raw.b (arrival_hour timestamp)")  # empty
    con.execute("insert into raw.a_table values ('2026-11-01 10:00'), ('2026-11-01 21:00')")
    latest = con.execute(latest_arrival_sql(export_sources(lineage_manifest(), ["model.p.export"]))).df()

    frame = source_freshness(latest, dt.datetime(2026, 11, 2), 48)

    assert frame["source_table"].tolist() == ["raw.a_table", "raw.b"]
    assert frame["hours_behind"].iloc[0] == 3.0
    assert frame["hours_behind"].isna().iloc[1] and frame["latest_arrival_hour"].isna().iloc[1]
    assert frame["max_hours_behind"].tolist() == [48.0, 48.0]


def test_freshness_limit_comes_from_the_environment():
    assert freshness_limit_hours({}) == DEFAULT_FRESHNESS_HOURS == 48.0
    assert freshness_limit_hours({"EWH_SOURCE_FRESHNESS_HOURS": " 6 "}) == 6.0
    with pytest.raises(ValueError, match="not a number"):
        freshness_limit_hours({"EWH_SOURCE_FRESHNESS_HOURS": "two days"})
    with pytest.raises(ValueError, match="positive"):
        freshness_limit_hours({"EWH_SOURCE_FRESHNESS_HOURS": "0"})


@pytest.mark.parametrize(("hours", "passes"), [(48.0, True), (48.5, False)])
def test_the_limit_is_inclusive(gate, hours, passes):
    freshness = source_freshness(latest_arrivals(**{"raw.partner_acme_loyalty": hours}), RUN_END, 48)
    result = gate("build_marts", marts(freshness=freshness))
    assert result.passed is passes, result.summary()
    if not passes:
        [failure] = find(result.failures, "expect_column_pair_values_a_to_be_greater_than_b")
        assert failure.asset == "export_source_freshness" and failure.failing_count == 1


def test_landed_rows_by_day_sums_the_runs_of_each_recent_day(tmp_path):
    lake = Lake(tmp_path.as_uri())
    lake.write_bytes("manifests/landing/clickstream/2026-11-21/run-1.json", b'{"rows_staged": 40}')
    lake.write_bytes("manifests/landing/clickstream/2026-11-21/run-2.json", b'{"rows_staged": 2}')
    lake.write_bytes("manifests/landing/clickstream/2026-11-19/run-1.json", b'{"rows_staged": 7}')
    lake.write_bytes("manifests/landing/clickstream/2026-11-22/run-1.json", b'{"rows_staged": 999}')  # the day itself
    lake.write_bytes("manifests/landing/clickstream/2026-11-10/run-1.json", b'{"rows_staged": 999}')  # too old
    lake.write_bytes("manifests/landing/partner_x/2026-11-21/run-1.json", b'{"rows_staged": 999}')  # other source

    assert landed_rows_by_day(lake, "clickstream", dt.date(2026, 11, 22)) == {"2026-11-21": 42, "2026-11-19": 7}


def test_staged_volume_band_is_the_median_divided_and_multiplied_by_the_factor():
    frame = staged_volume({"raw.t": 5}, {"raw.t": {"a": 10, "b": 30, "c": 1000}}, 2.0)
    assert frame.loc[0, "baseline_rows"] == 30.0 and frame.loc[0, "history_days"] == 3
    assert (frame.loc[0, "min_expected_rows"], frame.loc[0, "max_expected_rows"]) == (15.0, 60.0)


def test_volume_factor_comes_from_the_environment():
    assert volume_factor({}) == DEFAULT_VOLUME_FACTOR == 3.0
    assert volume_factor({"EWH_VOLUME_FACTOR": "5"}) == 5.0
    with pytest.raises(ValueError, match="greater than 1"):
        volume_factor({"EWH_VOLUME_FACTOR": "0.5"})
