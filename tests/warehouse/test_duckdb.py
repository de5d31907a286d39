"""DuckDB loader: replacing only the touched staged partitions always equals one full rebuild, row for row.

Generated data lands day by day through the real landing engine (hourly sources and daily ones), and each day's
register gets the partitions that landing run touched, as `tasks.register_sources` passes them. A second
warehouse is rebuilt once from everything staged; both must hold the same rows. Reruns change nothing, and a
partition whose staged files changed is replaced, not duplicated.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engagement_warehouse.lake import Lake
from engagement_warehouse.landing import land_source
from engagement_warehouse.orchestration import interval_end
from engagement_warehouse.sample_data import generate
from engagement_warehouse.sources import all_sources, get_source
from engagement_warehouse.sources.base import Source
from engagement_warehouse.warehouse.base import StagedPartition
from engagement_warehouse.warehouse.duckdb import DuckDBLoader

END_DATE = date(2026, 11, 22)
DAYS = 3


def rows(warehouse: Path, table: str) -> list[tuple[Any, ...]]:
    """Every row of `raw.<table>`, sorted (NULLs first), for a row-for-row comparison."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = [name for (name,) in con.execute(f"select column_name from (describe raw.{table})").fetchall()]
        order = ", ".join(f'"{name}" nulls first' for name in columns)
        return con.execute(f"select * from raw.{table} order by {order}").fetchall()


def columns(warehouse: Path, table: str) -> list[tuple[str, str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"select column_name, column_type from (describe raw.{table})").fetchall()


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lake, Path, dict[str, list[list[str]]]]]:
    """Generated data landed day by day; the incremental warehouse registered after each day with the touched
    partitions. Yields (lake, incremental warehouse, per source the partitions each day's run touched)."""
    root = tmp_path_factory.mktemp("duckdb-loader")
    lake = Lake((root / "lake").as_uri())
    generate(lake_url=lake.url, users=30, days=DAYS, seed=5, end_date=END_DATE, application_id="ewh-test-app")
    warehouse = root / "incremental.duckdb"
    loader = DuckDBLoader(warehouse)
    touched: dict[str, list[list[str]]] = {source.name: [] for source in all_sources()}
    for offset in range(DAYS - 1, -1, -1):
        day = END_DATE - timedelta(days=offset)
        for source in all_sources():
            manifest = land_source(lake, source, run_id=f"day-{day}", logical_date=day, until=interval_end(day))
            touched[source.name].append(manifest.staged_partitions)
            loader.register(lake, source, manifest.staged_partitions)
    yield lake, warehouse, touched


def empty_lake(tmp_path: Path) -> Lake:
    (tmp_path / "lake").mkdir()
    return Lake((tmp_path / "lake").as_uri())


def test_day_by_day_registration_equals_one_full_rebuild(
    landed: tuple[Lake, Path, dict[str, list[list[str]]]], tmp_path: Path
) -> None:
    lake, incremental, touched = landed
    full = tmp_path / "full.duckdb"
    for source in all_sources():
        DuckDBLoader(full).register(lake, source)
    for source in all_sources():
        days_with_partitions = sum(1 for partitions in touched[source.name] if partitions)
        if source.name in ("clickstream", "pinpoint_events"):
            assert days_with_partitions == DAYS, f"{source.name}: landing did not stage every day"
            assert all(partition.count("/hour=") == 1 for partition in touched[source.name][-1])
        assert columns(incremental, source.table) == columns(full, source.table)
        expected = rows(full, source.table)
        assert expected or source.partitioning == "day", f"{source.table} is empty: the test would prove nothing"
        assert rows(incremental, source.table) == expected, f"{source.table} differs from a full rebuild"


def test_rerunning_the_same_partitions_changes_nothing(
    landed: tuple[Lake, Path, dict[str, list[list[str]]]], tmp_path: Path
) -> None:
    lake, incremental, touched = landed
    copy = tmp_path / "rerun.duckdb"
    copy.write_bytes(incremental.read_bytes())
    loader = DuckDBLoader(copy)
    for source in all_sources():
        before = rows(incremental, source.table)
        every_partition = [partition for day in touched[source.name] for partition in day]
        for partitions in (touched[source.name][-1], every_partition, every_partition):
            assert loader.register(lake, source, partitions) == len(before)
        assert rows(copy, source.table) == before
        assert loader.register(lake, source, []) == len(before)  # nothing touched: nothing replaced


def _write(lake: Lake, source: Source, folder: str, name: str, table: pa.Table, tag: str) -> None:
    # make the rows distinct from the other files of the partition (same keys would hide a duplicate)
    tagged = pa.array([f"{tag}-{value}" for value in table.column(0).to_pylist()], type=table.field(0).type)
    table = table.set_column(0, table.field(0), tagged)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    lake.write_bytes(f"{folder}/{name}", buffer.getvalue())


@pytest.mark.parametrize("source_name", ["clickstream", "pinpoint_endpoints"])
def test_a_partition_whose_files_changed_is_replaced_not_duplicated(
    tmp_path: Path, source_name: str, make_rows: Any
) -> None:
    source = get_source(source_name)
    lake = empty_lake(tmp_path)
    first = StagedPartition.parse(source, "dt=2026-11-21/hour=23" if source.partitioning == "hour" else "dt=2026-11-21")
    second = StagedPartition.parse(
        source, "dt=2026-11-22/hour=00" if source.partitioning == "hour" else "dt=2026-11-22"
    )
    for partition in (first, second):
        _write(lake, source, partition.prefix.rstrip("/"), "part-a.parquet", make_rows(source, partition.start, 3), "a")
    warehouse = tmp_path / "warehouse.duckdb"
    loader = DuckDBLoader(warehouse)
    assert loader.register(lake, source, [first.prefix, second.prefix]) == 6  # no table yet: full rebuild

    # a late object adds a file to the first partition, and the second partition's file is rewritten smaller
    _write(lake, source, first.prefix.rstrip("/"), "part-late.parquet", make_rows(source, first.start, 2), "late")
    _write(lake, source, second.prefix.rstrip("/"), "part-a.parquet", make_rows(source, second.start, 1), "a")
    assert loader.register(lake, source, [first.folder]) == 6 + 2
    assert loader.register(lake, source, [first.folder]) == 6 + 2  # and again: replaced, not added
    assert loader.register(lake, source, [f"staged/{source.name}/{second.folder}"]) == 5 + 1

    # a partition whose files are all gone is emptied
    lake.fs.rm(lake.path(f"{first.prefix}part-late.parquet"))
    lake.fs.rm(lake.path(f"{first.prefix}part-a.parquet"))
    assert loader.register(lake, source, [first.folder]) == 1

    full = tmp_path / "full.duckdb"
    assert DuckDBLoader(full).register(lake, source) == 1
    assert rows(warehouse, source.table) == rows(full, source.table)


def test_a_failed_replace_leaves_the_table_as_it_was(tmp_path: Path, stage_source: Any) -> None:
    lake = empty_lake(tmp_path)
    source = get_source("clickstream")
    first, _second = stage_source(lake, source)
    warehouse = tmp_path / "warehouse.duckdb"
    loader = DuckDBLoader(warehouse)
    assert loader.register(lake, source) == 6
    before = rows(warehouse, source.table)
    lake.write_bytes(f"{first}/part-broken.parquet", b"not parquet")  # the replace fails
    with pytest.raises(Exception, match=r"(?i)parquet|magic"):
        loader.register(lake, source, [first])
    assert rows(warehouse, source.table) == before


def test_a_table_with_other_columns_is_rebuilt(tmp_path: Path, stage_source: Any) -> None:
    lake = empty_lake(tmp_path)
    source = get_source("clickstream")
    first, _second = stage_source(lake, source)
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema raw")
        con.execute(f"create table raw.{source.table} (message_id varchar)")  # an older staged schema
    assert DuckDBLoader(warehouse).register(lake, source, [first]) == 6
    assert [name for name, _type in columns(warehouse, source.table)] == source.schema.names
