"""Athena loader: every statement parses as Athena SQL, and runs through Athena's query API (moto)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
import sqlglot
from airflow.providers.amazon.aws.hooks.athena import AthenaHook
from sqlglot import exp

from engagement_warehouse.lake import Lake
from engagement_warehouse.sources import all_sources, get_source
from engagement_warehouse.warehouse.athena import AthenaConfig, AthenaLoader, AthenaStatements, athena_type
from engagement_warehouse.warehouse.base import StagedPartition

REGION = "us-east-1"
CONFIG = AthenaConfig(database="raw", work_group="primary", s3_staging_dir="s3://results/ewh/", poll_seconds=0)


def parse(statement: str) -> exp.Expression:
    """Athena's dialect in sqlglot parses DDL as Hive and queries as Trino, as Athena does."""
    return sqlglot.parse_one(statement, read="athena", error_level=sqlglot.ErrorLevel.RAISE)


def executed_queries(endpoint: str) -> list[str]:
    """The statements Athena (moto) was asked to run, oldest first."""
    client = boto3.client("athena", endpoint_url=endpoint, region_name=REGION)
    ids = client.list_query_executions(WorkGroup="primary")["QueryExecutionIds"]
    if not ids:
        return []
    executions = [client.get_query_execution(QueryExecutionId=id_)["QueryExecution"] for id_ in ids]
    assert all(execution["Status"]["State"] == "SUCCEEDED" for execution in executions)
    assert all(e["ResultConfiguration"]["OutputLocation"].startswith("s3://results/ewh/") for e in executions)
    ordered = sorted(executions, key=lambda execution: execution["Status"]["SubmissionDateTime"])
    return [execution["Query"] for execution in ordered]


@pytest.mark.parametrize("source", all_sources(), ids=lambda source: source.name)
def test_every_statement_parses_as_athena_sql(source: Any) -> None:
    rendered = AthenaStatements(source, "raw")
    create_database, create_table = rendered.setup(f"s3://lake/staged/{source.name}/")
    assert isinstance(parse(create_database), exp.Create)
    table = parse(create_table)
    assert isinstance(table, exp.Create) and table.args.get("exists")
    columns = [column.name for column in table.this.expressions]
    assert columns == source.schema.names
    partition_columns = ["dt", "hour"] if source.partitioning == "hour" else ["dt"]
    partitioned_by = table.find(exp.PartitionedByProperty)
    assert partitioned_by is not None
    assert [column.name for column in partitioned_by.find_all(exp.ColumnDef)] == partition_columns
    assert table.find(exp.LocationProperty).this.this == f"s3://lake/staged/{source.name}/"

    day = "dt=2026-11-22/hour=03" if source.partitioning == "hour" else "dt=2026-11-22"
    add = parse(rendered.add_partition(StagedPartition.parse(source, day), f"s3://lake/staged/{source.name}/{day}/"))
    assert isinstance(add, exp.Alter)  # not sqlglot's exp.Command fallback for syntax it cannot parse
    (action,) = add.args["actions"]
    assert isinstance(action, exp.AddPartition) and action.args.get("exists")
    values = {eq.this.name: eq.expression.this for eq in action.find_all(exp.EQ)}
    assert values == ({"dt": "2026-11-22", "hour": "03"} if source.partitioning == "hour" else {"dt": "2026-11-22"})


def test_table_ddl_maps_arrow_types() -> None:
    ddl = AthenaStatements(get_source("pinpoint_endpoints"), "raw").setup("s3://lake/staged/pinpoint_endpoints/")[1]
    assert "`endpoint_id` STRING" in ddl
    assert "`export_date` DATE" in ddl
    assert "`effective_at` TIMESTAMP" in ddl
    assert "`source_line` BIGINT" in ddl
    assert "STORED AS PARQUET" in ddl
    with pytest.raises(TypeError, match="no Athena type"):
        import pyarrow as pa

        athena_type(pa.struct([("a", pa.int64())]))


def test_register_creates_the_table_and_each_partition_once(staged_lake: tuple[Lake, Any], aws_env: str) -> None:
    lake, staged = staged_lake
    loader = AthenaLoader(CONFIG, hook=AthenaHook(aws_conn_id=None, region_name=REGION, log_query=False))
    source = get_source("clickstream")

    assert loader.register(lake, source, staged["clickstream"]) == 6  # 2 partitions x 3 rows
    first = executed_queries(aws_env)
    assert first == loader.statements(lake, source, staged["clickstream"])
    assert [statement.split()[0:2] for statement in first] == [["CREATE", "DATABASE"], ["CREATE", "EXTERNAL"]] + [
        ["ALTER", "TABLE"]
    ] * 2
    assert f"PARTITION (dt = '2026-11-22', hour = '00') LOCATION '{lake.url}/staged/clickstream/" in first[3]

    assert loader.register(lake, source, staged["clickstream"]) == 6
    both = executed_queries(aws_env)
    assert both[len(first) :] == first  # the same statements again
    partitions = [statement for statement in both if statement.startswith("ALTER")]
    assert all("ADD IF NOT EXISTS PARTITION" in statement for statement in partitions)
    assert len(set(partitions)) == 2  # one registration per partition, however often it runs


def test_every_source_registers_all_it_staged_when_no_partitions_are_given(staged_lake: tuple[Lake, Any]) -> None:
    lake, staged = staged_lake
    loader = AthenaLoader(CONFIG, hook=object())  # statements() makes no call
    for source in all_sources():
        statements = loader.statements(lake, source)
        assert statements == loader.statements(lake, source, staged[source.name])
        assert len(statements) == 2 + len(staged[source.name])


def test_a_failed_query_raises_with_athena_reason(staged_lake: tuple[Lake, Any]) -> None:
    class FailingHook:
        def run_query(self, **kwargs: Any) -> str:
            return "q-1"

        def poll_query_status(self, query_id: str, max_polling_attempts: int, sleep_time: int) -> str:
            return "FAILED"

        def get_state_change_reason(self, query_id: str) -> str:
            return "HIVE_METASTORE_ERROR: no permission"

    lake, _ = staged_lake
    with pytest.raises(RuntimeError, match="HIVE_METASTORE_ERROR"):
        AthenaLoader(CONFIG, hook=FailingHook()).register(lake, get_source("clickstream"))


def test_a_file_lake_is_refused_with_a_clear_message(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="EWH_TARGET=athena reads the staged Parquet from S3"):
        AthenaLoader(CONFIG, hook=object()).statements(Lake(tmp_path.as_uri()), get_source("clickstream"))


def test_config_from_env() -> None:
    config = AthenaConfig.from_env({"EWH_RAW_SCHEMA": "landing", "EWH_ATHENA_S3_STAGING_DIR": "s3://r/"})
    assert (config.database, config.work_group, config.s3_staging_dir) == ("landing", "primary", "s3://r/")
    assert AthenaConfig.from_env({"EWH_ATHENA_DATABASE": "ewh_raw", "EWH_RAW_SCHEMA": "x"}).database == "ewh_raw"
