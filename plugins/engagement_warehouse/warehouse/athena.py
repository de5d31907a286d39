"""Athena: an external table over `staged/<source>/`, stored as Parquet, with its partitions registered.

The table reads the staged Parquet in place (nothing is copied), partitioned by `dt` (and `hour` for hourly
sources) exactly as landing lays the files out. Each staged partition the landing run touched is registered with
`ALTER TABLE ... ADD IF NOT EXISTS PARTITION` (one statement per partition: it is a no-op when the partition is
known, so registering twice leaves one registration). We register partitions explicitly rather than with
partition projection so the Glue catalog lists exactly the partitions that exist, which every Glue reader
(Redshift Spectrum, EMR, Glue jobs) sees too, and no query probes empty hours.

Statements are rendered from `include/sql/athena/` and run through the Amazon provider's `AthenaHook`
(`StartQueryExecution`, then `GetQueryExecution` polled a bounded number of times). Configuration:
- `EWH_ATHENA_DATABASE` (default `EWH_RAW_SCHEMA`, else `raw`): the Glue database of the raw tables;
- `EWH_ATHENA_WORK_GROUP` (default `primary`), `EWH_ATHENA_CATALOG` (default `awsdatacatalog`);
- `EWH_ATHENA_S3_STAGING_DIR`: where Athena writes query results (optional when the work group enforces one);
- `EWH_AWS_CONN_ID` (default `aws_default`); `EWH_ATHENA_POLL_SECONDS` (2) and `EWH_ATHENA_MAX_POLLS` (300).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from engagement_warehouse.lake import Lake
from engagement_warehouse.sources.base import Source
from engagement_warehouse.warehouse.base import (
    SQL_DIR,
    StagedPartition,
    WarehouseLoader,
    render_sql,
    require_s3_lake,
    sql_string,
    staged_files,
    staged_partitions,
)

log = logging.getLogger(__name__)
TARGET = "athena"


def athena_type(data_type: pa.DataType) -> str:
    """The Athena (Hive DDL) column type for an Arrow type of the staged schemas (raise on one they never use)."""
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "STRING"
    if pa.types.is_timestamp(data_type):
        return "TIMESTAMP"  # Parquet timestamps are instants in UTC; the staged ones are naive UTC already
    simple = {
        pa.int16(): "SMALLINT",
        pa.int32(): "INT",
        pa.int64(): "BIGINT",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
    }
    if data_type in simple:
        return simple[data_type]
    raise TypeError(f"no Athena type for Arrow type {data_type}; extend athena_type()")


def quote(identifier: str) -> str:
    """A backquoted identifier, as Athena's DDL (Hive) takes them."""
    return "`" + identifier.replace("`", "``") + "`"


@dataclass(frozen=True)
class AthenaConfig:
    """Where the raw tables live and how queries run."""

    database: str = "raw"
    work_group: str = "primary"
    catalog: str = "awsdatacatalog"
    s3_staging_dir: str | None = None
    aws_conn_id: str | None = "aws_default"
    poll_seconds: int = 2
    max_polls: int = 300

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AthenaConfig:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        return cls(
            database=get("EWH_ATHENA_DATABASE") or get("EWH_RAW_SCHEMA") or "raw",
            work_group=get("EWH_ATHENA_WORK_GROUP") or "primary",
            catalog=get("EWH_ATHENA_CATALOG") or "awsdatacatalog",
            s3_staging_dir=get("EWH_ATHENA_S3_STAGING_DIR"),
            aws_conn_id=get("EWH_AWS_CONN_ID") or "aws_default",
            poll_seconds=int(get("EWH_ATHENA_POLL_SECONDS") or 2),
            max_polls=int(get("EWH_ATHENA_MAX_POLLS") or 300),
        )


class AthenaStatements:
    """Renders the statements of one source from `include/sql/athena/`."""

    def __init__(self, source: Source, database: str, sql_dir: Path = SQL_DIR) -> None:
        self.source = source
        self.database = database
        self.sql_dir = sql_dir
        self.table = f"{quote(database)}.{quote(source.table)}"

    def setup(self, location: str) -> list[str]:
        """CREATE DATABASE / CREATE EXTERNAL TABLE IF NOT EXISTS over `location` (the staged prefix)."""
        columns = ",\n".join(f"    {quote(field.name)} {athena_type(field.type)}" for field in self.source.schema)
        keys = ["dt", "hour"] if self.source.partitioning == "hour" else ["dt"]
        return [
            render_sql(TARGET, "create_database", self.sql_dir, database=quote(self.database)),
            render_sql(
                TARGET,
                "create_table",
                self.sql_dir,
                table=self.table,
                columns=columns,
                partition_columns=", ".join(f"{quote(key)} STRING" for key in keys),
                location=sql_string(location),
            ),
        ]

    def add_partition(self, partition: StagedPartition, location: str) -> str:
        spec = ", ".join(f"{key} = {sql_string(value)}" for key, value in partition.values.items())
        return render_sql(
            TARGET, "add_partition", self.sql_dir, table=self.table, partition_spec=spec, location=sql_string(location)
        )


def staged_row_count(lake: Lake, source: Source) -> int:
    """Rows in the staged Parquet of `source`, from the files' footers: what the external table shows."""
    total = 0
    for key in staged_files(lake, f"staged/{source.name}/"):
        with lake.open(key) as handle:
            total += pq.ParquetFile(handle).metadata.num_rows
    return total


class AthenaLoader(WarehouseLoader):
    """Registers a source's staged Parquet as an Athena external table (the provider's AthenaHook)."""

    def __init__(self, config: AthenaConfig, hook: Any = None, sql_dir: Path = SQL_DIR) -> None:
        self.config = config
        self.sql_dir = sql_dir
        if hook is None:
            from airflow.providers.amazon.aws.hooks.athena import AthenaHook

            hook = AthenaHook(aws_conn_id=config.aws_conn_id, log_query=False)
        self.hook = hook

    def statements(self, lake: Lake, source: Source, partitions: Sequence[str] | None = None) -> list[str]:
        """The statements `register` runs, in order."""
        require_s3_lake(lake, TARGET)
        rendered = AthenaStatements(source, self.config.database, self.sql_dir)
        statements = rendered.setup(lake.url_of(f"staged/{source.name}/"))
        for partition in staged_partitions(lake, source, partitions):
            statements.append(rendered.add_partition(partition, lake.url_of(partition.prefix)))
        return statements

    def register(self, lake: Lake, source: Source, partitions: Sequence[str] | None = None) -> int:
        for statement in self.statements(lake, source, partitions):
            self._run(statement)
        count = staged_row_count(lake, source)
        log.info("athena: %s.%s shows %d staged rows", self.config.database, source.table, count)
        return count

    def _run(self, statement: str) -> None:
        """Run one statement and wait for it (at most `max_polls` polls); raise with Athena's reason on failure."""
        config = self.config
        result = {"OutputLocation": config.s3_staging_dir} if config.s3_staging_dir else {}
        query_id = self.hook.run_query(
            query=statement,
            query_context={"Catalog": config.catalog},  # names are qualified; the database may not exist yet
            result_configuration=result,
            workgroup=config.work_group,
        )
        state = self.hook.poll_query_status(
            query_id, max_polling_attempts=config.max_polls, sleep_time=config.poll_seconds
        )
        if state != "SUCCEEDED":
            reason = self.hook.get_state_change_reason(query_id)
            raise RuntimeError(f"Athena query {query_id} ended {state}: {reason}\n{statement}")
