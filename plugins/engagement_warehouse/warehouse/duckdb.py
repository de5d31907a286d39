"""DuckDB: `raw.<table>` shows the staged Parquet dataset (file:// or s3:// through pyarrow).

Given the staged partitions a landing run touched (`staged/<source>/dt=YYYY-MM-DD[/hour=HH]`), the loader
replaces only those: in ONE transaction, it deletes each partition's rows (landing sets `arrival_hour` to the
partition's start, so `arrival_hour` in [start, end) is exactly the partition, as the Redshift loader deletes
them) and inserts the partition's current files. Rerunning a partition replaces its rows instead of adding them,
a partition whose files changed (a late object added a file) is reloaded whole, and a partition whose files are
gone is emptied: the table always equals a full rebuild from the staged layer. Without partitions (`None`), or
when the table does not exist yet or its columns differ from the staged schema, the table is rebuilt from every
staged file. DuckDB allows one writer per database file: Airflow serialises the writing tasks with the
`duckdb_warehouse` pool.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from engagement_warehouse.lake import Lake
from engagement_warehouse.sources.base import Source
from engagement_warehouse.warehouse.base import StagedPartition, WarehouseLoader, staged_files, staged_partitions

log = logging.getLogger(__name__)
RAW_SCHEMA = "raw"


LOCK_WAIT_SECONDS = 120.0


def _config() -> dict[str, str]:
    """DuckDB settings from the environment: `EWH_DUCKDB_MEMORY_LIMIT` (e.g. `2GB`) caps memory; DuckDB then
    spills to disk instead of growing with the data (its default allows 80 % of RAM)."""
    limit = os.environ.get("EWH_DUCKDB_MEMORY_LIMIT", "").strip()
    return {"memory_limit": limit} if limit else {}


def _open(path: Path, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting while another process holds DuckDB's single-writer lock."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.1
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=_config())
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() >= deadline:
                raise
            log.info("duckdb: %s is locked by another process; retrying in %.1fs", path, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


@contextmanager
def connect(
    path: Path, read_only: bool = False, wait_seconds: float = LOCK_WAIT_SECONDS
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse file, closed on exit.

    DuckDB allows one writing process per file. Airflow serialises most writers with the `duckdb_warehouse`
    pool; short writers outside it (segment import bookkeeping) wait here for the lock instead of failing.
    """
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    connection = _open(path, read_only, wait_seconds)
    try:
        yield connection
    finally:
        connection.close()


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _staged_rows(lake: Lake, source: Source, keys: Sequence[str]) -> pa.Table | pads.Dataset:
    """The staged files `keys` as one Arrow dataset with the source's schema (an empty table when none)."""
    if not keys:
        return pa.Table.from_pylist([], schema=source.schema)
    files = [lake.path(key) for key in keys]
    return pads.dataset(files, schema=source.schema, format="parquet", filesystem=lake.arrow_filesystem())


def _timestamp(value: datetime) -> str:
    return f"timestamp '{value:%Y-%m-%d %H:%M:%S}'"


class DuckDBLoader(WarehouseLoader):
    def __init__(self, path: Path) -> None:
        self.path = path

    def register(self, lake: Lake, source: Source, partitions: Sequence[str] | None = None) -> int:
        """Replace the rows of the touched `partitions` (None: rebuild the table from every staged file)."""
        table = f"{quote(RAW_SCHEMA)}.{quote(source.table)}"
        with connect(self.path) as connection:
            connection.execute(f"create schema if not exists {quote(RAW_SCHEMA)}")
            if partitions is None or not self._matches_schema(connection, source):
                self._rebuild(connection, lake, source, table)
            else:
                self._replace(connection, lake, source, table, staged_partitions(lake, source, partitions))
            (count,) = connection.execute(f"select count(*) from {table}").fetchone()
        return int(count)

    @staticmethod
    def _matches_schema(connection: duckdb.DuckDBPyConnection, source: Source) -> bool:
        """Whether `raw.<table>` exists with the staged schema's columns, in order (else: rebuild it)."""
        columns = connection.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [RAW_SCHEMA, source.table],
        ).fetchall()
        return [name for (name,) in columns] == source.schema.names

    @staticmethod
    def _rebuild(connection: duckdb.DuckDBPyConnection, lake: Lake, source: Source, table: str) -> None:
        keys = staged_files(lake, f"staged/{source.name}/")
        connection.register("staged_rows", _staged_rows(lake, source, keys))
        try:
            connection.execute(f"create or replace table {table} as select * from staged_rows")
        finally:
            connection.unregister("staged_rows")
        log.info("duckdb: %s rebuilt from %d staged files", table, len(keys))

    @staticmethod
    def _replace(
        connection: duckdb.DuckDBPyConnection,
        lake: Lake,
        source: Source,
        table: str,
        partitions: Sequence[StagedPartition],
    ) -> None:
        """Delete the partitions' rows and insert their current files, in one transaction."""
        if not partitions:
            log.info("duckdb: %s: no staged partition touched, nothing to replace", table)
            return
        keys = [key for partition in partitions for key in staged_files(lake, partition.prefix)]
        ranges = " or ".join(
            f"(arrival_hour >= {_timestamp(partition.start)} and arrival_hour < {_timestamp(partition.end)})"
            for partition in partitions
        )
        columns = ", ".join(quote(name) for name in source.schema.names)
        connection.register("staged_rows", _staged_rows(lake, source, keys))
        try:
            connection.execute("begin transaction")
            try:
                (deleted,) = connection.execute(f"delete from {table} where {ranges}").fetchone()
                connection.execute(f"insert into {table} ({columns}) select {columns} from staged_rows")
                connection.execute("commit")
            except BaseException:
                connection.execute("rollback")
                raise
        finally:
            connection.unregister("staged_rows")
        log.info(
            "duckdb: %s: %d partitions replaced (%d rows deleted, %d staged files inserted)",
            table,
            len(partitions),
            deleted,
            len(keys),
        )
