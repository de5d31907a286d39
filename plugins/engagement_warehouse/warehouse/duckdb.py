"""DuckDB: `raw.<table>` is rebuilt from the staged Parquet dataset (file:// or s3:// through pyarrow).

Rebuilding the table from the staged files is idempotent by construction: the table always equals the staged
layer, whatever ran before. DuckDB allows one writer per database file: Airflow serialises the writing tasks
with the `duckdb_warehouse` pool.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
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


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse file, closed on exit."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path), read_only=read_only)
    try:
        yield connection
    finally:
        connection.close()


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class DuckDBLoader(WarehouseLoader):
    def __init__(self, path: Path) -> None:
        self.path = path

    def register(self, lake: Lake, source: Source) -> int:
        files = [
            lake.path(obj.key)
            for obj in lake.list_objects(f"staged/{source.name}/")
            if obj.key.endswith(".parquet")
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
