"""DuckDB: `raw.<table>` is rebuilt from the staged Parquet dataset (file:// or s3:// through pyarrow).

Rebuilding the table from the staged files is idempotent by construction: the table always equals the staged
layer, whatever ran before. DuckDB allows one writer per database file: Airflow serialises the writing tasks
with the `duckdb_warehouse` pool.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from engagement_warehouse.lake import Lake
from engagement_warehouse.sources.base import Source
from engagement_warehouse.warehouse.base import WarehouseLoader

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


class DuckDBLoader(WarehouseLoader):
    def __init__(self, path: Path) -> None:
        self.path = path

    def register(self, lake: Lake, source: Source, partitions: Sequence[str] | None = None) -> int:
        """Rebuild the table from every staged file (`partitions` is not needed: the whole table is rebuilt)."""
        files = [
            lake.path(obj.key) for obj in lake.list_objects(f"staged/{source.name}/") if obj.key.endswith(".parquet")
        ]
        if files:
            staged = pads.dataset(files, schema=source.schema, format="parquet", filesystem=lake.arrow_filesystem())
        else:
            staged = pa.Table.from_pylist([], schema=source.schema)
        table = f"{quote(RAW_SCHEMA)}.{quote(source.table)}"
        with connect(self.path) as connection:
            connection.execute(f"create schema if not exists {quote(RAW_SCHEMA)}")
            connection.register("staged_rows", staged)
            connection.execute(f"create or replace table {table} as select * from staged_rows")
            connection.unregister("staged_rows")
            (count,) = connection.execute(f"select count(*) from {table}").fetchone()
        log.info("duckdb: %s holds %d rows from %d staged files", table, count, len(files))
        return int(count)
