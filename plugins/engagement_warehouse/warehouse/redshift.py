"""Redshift: per staged partition, a delete-then-`COPY ... FORMAT AS PARQUET`, in one transaction.

Statements are rendered from `include/sql/redshift/` and run through the Amazon provider's `RedshiftDataHook`
(the Redshift Data API). A list of statements goes to `BatchExecuteStatement`, which runs them serially as ONE
transaction: a partition's DELETE and its COPY commit together or not at all, so a failed COPY never leaves a
partition empty, and rerunning a partition replaces its rows instead of adding them (idempotent by construction).
The Data API needs no driver, no open port and no password in Airflow (IAM, or a Secrets Manager secret), and
works for provisioned clusters and Serverless workgroups alike. A batch holds at most 40 statements, so the
partitions are spread over as few batches as fit, never splitting a DELETE from its COPY; the table's row count
is the last statement of the last batch.

Configuration (environment first, then the Airflow connection `EWH_REDSHIFT_CONN_ID`, default `redshift_default`):
- `EWH_REDSHIFT_CLUSTER_IDENTIFIER` or `EWH_REDSHIFT_WORKGROUP_NAME` (exactly one; connection: extra
  `cluster_identifier` / `workgroup_name`, else the host name's first label);
- `EWH_REDSHIFT_DATABASE` (connection: schema, default `dev`);
- `EWH_REDSHIFT_SECRET_ARN` (connection extra `secret_arn`) or `EWH_REDSHIFT_DB_USER` (connection login) for
  temporary credentials; neither with a Serverless workgroup uses the caller's IAM identity;
- `EWH_REDSHIFT_COPY_ROLE_ARN` (required): the IAM role Redshift assumes to read the lake;
- `EWH_RAW_SCHEMA` (default `raw`); `EWH_AWS_CONN_ID` (default `aws_default`) for the Data API credentials;
- `EWH_REDSHIFT_POLL_SECONDS` (default 5) and `EWH_REDSHIFT_TIMEOUT_SECONDS` (default 3600).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

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
TARGET = "redshift"
MAX_STATEMENTS_PER_BATCH = 40  # BatchExecuteStatement's limit (botocore model: Sqls max 40)
VARCHAR_MAX = "VARCHAR(65535)"  # JSON text columns can be long; Redshift's widest VARCHAR


def redshift_type(data_type: pa.DataType) -> str:
    """The Redshift column type for an Arrow type of the staged schemas (raise on a type they never use)."""
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return VARCHAR_MAX
    if pa.types.is_timestamp(data_type):
        return "TIMESTAMPTZ" if data_type.tz else "TIMESTAMP"
    simple = {
        pa.int16(): "SMALLINT",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.float32(): "REAL",
        pa.float64(): "DOUBLE PRECISION",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
    }
    if data_type in simple:
        return simple[data_type]
    raise TypeError(f"no Redshift type for Arrow type {data_type}; extend redshift_type()")


def quote(identifier: str) -> str:
    """A double-quoted Redshift identifier."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class RedshiftConfig:
    """Where the Data API runs the statements, and the role COPY assumes."""

    database: str
    copy_role_arn: str
    cluster_identifier: str | None = None
    workgroup_name: str | None = None
    secret_arn: str | None = None
    db_user: str | None = None
    schema: str = "raw"
    aws_conn_id: str | None = "aws_default"
    poll_seconds: float = 5.0
    timeout_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if (self.cluster_identifier is None) == (self.workgroup_name is None):
            raise ValueError(
                "Redshift: set exactly one of EWH_REDSHIFT_CLUSTER_IDENTIFIER (provisioned cluster) or "
                "EWH_REDSHIFT_WORKGROUP_NAME (Serverless), or put cluster_identifier/workgroup_name in the "
                "extra of the EWH_REDSHIFT_CONN_ID connection"
            )
        if not self.copy_role_arn.startswith("arn:"):
            raise ValueError("Redshift: EWH_REDSHIFT_COPY_ROLE_ARN must be the ARN of the role COPY assumes")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, connection: Any = None) -> RedshiftConfig:
        """Read the environment; fill the gaps from the Airflow connection (looked up when not given)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        cluster, workgroup = get("EWH_REDSHIFT_CLUSTER_IDENTIFIER"), get("EWH_REDSHIFT_WORKGROUP_NAME")
        database, secret, user = (
            get("EWH_REDSHIFT_DATABASE"),
            get("EWH_REDSHIFT_SECRET_ARN"),
            get("EWH_REDSHIFT_DB_USER"),
        )
        if not (cluster or workgroup) or not database:
            connection = connection or _connection(get("EWH_REDSHIFT_CONN_ID") or "redshift_default")
        if connection is not None:
            extra = connection.extra_dejson or {}
            host = connection.host or ""
            if not (cluster or workgroup):
                cluster = extra.get("cluster_identifier")
                workgroup = extra.get("workgroup_name")
                if not (cluster or workgroup) and host:
                    label = host.split(".", 1)[0]
                    if ".redshift-serverless." in host:
                        workgroup = label
                    else:
                        cluster = label
            database = database or connection.schema or None
            secret = secret or extra.get("secret_arn")
            user = user or (None if secret or workgroup else connection.login or None)
        return cls(
            database=database or "dev",
            copy_role_arn=get("EWH_REDSHIFT_COPY_ROLE_ARN") or "",
            cluster_identifier=cluster,
            workgroup_name=workgroup,
            secret_arn=secret,
            db_user=user,
            schema=get("EWH_RAW_SCHEMA") or "raw",
            aws_conn_id=get("EWH_AWS_CONN_ID") or "aws_default",
            poll_seconds=float(get("EWH_REDSHIFT_POLL_SECONDS") or 5),
            timeout_seconds=float(get("EWH_REDSHIFT_TIMEOUT_SECONDS") or 3600),
        )


def _connection(conn_id: str) -> Any:
    """The Airflow connection `conn_id`, or None when it does not exist (the environment must then say it all)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


class RedshiftStatements:
    """Renders the statements of one source from `include/sql/redshift/`."""

    def __init__(self, source: Source, schema: str, copy_role_arn: str, sql_dir: Path = SQL_DIR) -> None:
        self.source = source
        self.schema = schema
        self.copy_role_arn = copy_role_arn
        self.sql_dir = sql_dir
        self.table = f"{quote(schema)}.{quote(source.table)}"

    def _render(self, name: str, **params: str) -> str:
        return render_sql(TARGET, name, self.sql_dir, table=self.table, **params)

    def setup(self) -> list[str]:
        """CREATE SCHEMA / CREATE TABLE IF NOT EXISTS, columns typed from the staged Arrow schema."""
        columns = ",\n".join(
            f"    {quote(field.name)} {redshift_type(field.type)}{'' if field.nullable else ' NOT NULL'}"
            for field in self.source.schema
        )
        return [
            render_sql(TARGET, "create_schema", self.sql_dir, schema=quote(self.schema)),
            self._render("create_table", columns=columns),
        ]

    def reload(self, partition: StagedPartition, location: str | None) -> list[str]:
        """DELETE the partition's rows, then COPY its files from `location` (None: the partition is now empty)."""
        delete = self._render(
            "delete_partition",
            start=sql_string(f"{partition.start:%Y-%m-%d %H:%M:%S}"),
            end=sql_string(f"{partition.end:%Y-%m-%d %H:%M:%S}"),
        )
        if location is None:
            return [delete]
        copy = self._render("copy_partition", location=sql_string(location), iam_role=sql_string(self.copy_role_arn))
        return [delete, copy]

    def count(self) -> str:
        return self._render("count_rows")


def plan_batches(setup: list[str], reloads: list[list[str]], count: str) -> list[list[str]]:
    """Group statements into Data API batches (one transaction each) of at most 40, never splitting a reload."""
    batches: list[list[str]] = [list(setup)]
    for group in reloads:
        if len(batches[-1]) + len(group) > MAX_STATEMENTS_PER_BATCH:
            batches.append([])
        batches[-1].extend(group)
    if len(batches[-1]) + 1 > MAX_STATEMENTS_PER_BATCH:
        batches.append([])
    batches[-1].append(count)
    return batches


class RedshiftLoader(WarehouseLoader):
    """Registers staged partitions in Redshift through the Redshift Data API (the provider's RedshiftDataHook)."""

    def __init__(self, config: RedshiftConfig, hook: Any = None, sql_dir: Path = SQL_DIR) -> None:
        self.config = config
        self.sql_dir = sql_dir
        if hook is None:
            from airflow.providers.amazon.aws.hooks.redshift_data import RedshiftDataHook

            hook = RedshiftDataHook(aws_conn_id=config.aws_conn_id)
        self.hook = hook

    def statements(self, lake: Lake, source: Source, partitions: Sequence[str] | None = None) -> list[list[str]]:
        """The batches `register` runs, in order (each batch is one transaction)."""
        require_s3_lake(lake, TARGET)
        rendered = RedshiftStatements(source, self.config.schema, self.config.copy_role_arn, self.sql_dir)
        reloads = []
        for partition in staged_partitions(lake, source, partitions):
            has_files = bool(staged_files(lake, partition.prefix))
            reloads.append(rendered.reload(partition, lake.url_of(partition.prefix) if has_files else None))
        return plan_batches(rendered.setup(), reloads, rendered.count())

    def register(self, lake: Lake, source: Source, partitions: Sequence[str] | None = None) -> int:
        batches = self.statements(lake, source, partitions)
        statement_id = ""
        for index, batch in enumerate(batches, 1):
            statement_id = self._run(batch, name=f"ewh-register-{source.table}-{index}-of-{len(batches)}")
        result = self.hook.conn.get_statement_result(Id=f"{statement_id}:{len(batches[-1])}")
        count = int(result["Records"][0][0]["longValue"])
        log.info(
            "redshift: %s.%s holds %d rows after %d batches", self.config.schema, source.table, count, len(batches)
        )
        return count

    def _run(self, batch: list[str], name: str) -> str:
        """Run one batch as one transaction and wait for it (bounded by the timeout); return its statement id."""
        config = self.config
        output = self.hook.execute_query(
            sql=batch,
            database=config.database,
            cluster_identifier=config.cluster_identifier,
            workgroup_name=config.workgroup_name,
            secret_arn=config.secret_arn,
            db_user=config.db_user,
            statement_name=name,
            wait_for_completion=False,
        )
        statement_id = output.statement_id
        deadline = time.monotonic() + config.timeout_seconds
        # check_query_is_finished raises RedshiftDataQueryFailedError (with the error) on FAILED or ABORTED.
        while not self.hook.check_query_is_finished(statement_id):
            if time.monotonic() >= deadline:
                self.hook.conn.cancel_statement(Id=statement_id)
                raise TimeoutError(f"Redshift: {name} ({statement_id}) ran over {config.timeout_seconds:.0f}s")
            time.sleep(config.poll_seconds)
        return statement_id
