"""Redshift loader: every statement parses as Redshift SQL, and the Data API calls match botocore's model."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
import sqlglot
from airflow.providers.amazon.aws.hooks.redshift_data import RedshiftDataHook, RedshiftDataQueryFailedError
from botocore.stub import Stubber
from sqlglot import exp

from engagement_warehouse.lake import Lake
from engagement_warehouse.sources import all_sources, get_source
from engagement_warehouse.warehouse.base import StagedPartition
from engagement_warehouse.warehouse.redshift import (
    MAX_STATEMENTS_PER_BATCH,
    RedshiftConfig,
    RedshiftLoader,
    RedshiftStatements,
    plan_batches,
)

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/ewh-redshift-copy"
CONFIG = RedshiftConfig(
    database="analytics", copy_role_arn=ROLE, cluster_identifier="ewh-cluster", db_user="ewh_loader", poll_seconds=0
)


def parse(statement: str) -> exp.Expression:
    return sqlglot.parse_one(statement, read="redshift", error_level=sqlglot.ErrorLevel.RAISE)


def make_loader() -> tuple[RedshiftLoader, Stubber]:
    hook = RedshiftDataHook(aws_conn_id=None, region_name=REGION)
    stubber = Stubber(hook.conn)
    return RedshiftLoader(CONFIG, hook=hook), stubber


def expect_batch(stubber: Stubber, statement_id: str, sqls: list[str], name: str) -> None:
    params = {
        "ClusterIdentifier": "ewh-cluster",
        "Database": "analytics",
        "DbUser": "ewh_loader",
        "Sqls": sqls,
        "StatementName": name,
        "WithEvent": False,
    }
    stubber.add_response("batch_execute_statement", {"Id": statement_id}, params)
    stubber.add_response("describe_statement", {"Id": statement_id, "Status": "STARTED"}, {"Id": statement_id})
    stubber.add_response("describe_statement", {"Id": statement_id, "Status": "FINISHED"}, {"Id": statement_id})


@pytest.mark.parametrize("source", all_sources(), ids=lambda source: source.name)
def test_every_statement_parses_as_redshift_sql(source: Any) -> None:
    rendered = RedshiftStatements(source, "raw", ROLE)
    day = "dt=2026-11-22/hour=03" if source.partitioning == "hour" else "dt=2026-11-22"
    partition = StagedPartition.parse(source, day)
    create_schema, create_table = rendered.setup()
    delete, copy = rendered.reload(partition, f"s3://lake/staged/{source.name}/{day}/")

    assert isinstance(parse(create_schema), exp.Create)
    table = parse(create_table)
    assert isinstance(table, exp.Create) and table.args.get("exists")
    assert [column.name for column in table.find_all(exp.ColumnDef)] == source.schema.names
    assert isinstance(parse(delete), exp.Delete)
    assert "arrival_hour" in {column.name for column in parse(delete).find_all(exp.Column)}
    parsed_copy = parse(copy)
    assert isinstance(parsed_copy, exp.Copy)
    assert parsed_copy.args["files"][0].this == f"s3://lake/staged/{source.name}/{day}/"
    assert "FORMAT AS PARQUET" in copy and f"IAM_ROLE '{ROLE}'" in copy
    assert isinstance(parse(rendered.count()), exp.Select)


def test_table_ddl_maps_arrow_types_and_nullability() -> None:
    ddl = RedshiftStatements(get_source("clickstream"), "raw", ROLE).setup()[1]
    assert '"message_id" VARCHAR(65535) NOT NULL' in ddl
    assert '"event_at" TIMESTAMP NOT NULL' in ddl
    assert '"source_line" BIGINT NOT NULL' in ddl
    assert '"user_id" VARCHAR(65535),' in ddl
    partner = next(source for source in all_sources() if source.name.startswith("partner_"))
    partner_ddl = RedshiftStatements(partner, "raw", ROLE).setup()[1]
    assert '"file_date" DATE NOT NULL' in partner_ddl
    for field in partner.schema:
        assert f'"{field.name}" ' in partner_ddl


def test_day_and_hour_partitions_delete_exactly_their_window() -> None:
    hourly = RedshiftStatements(get_source("clickstream"), "raw", ROLE)
    delete = hourly.reload(StagedPartition.parse(get_source("clickstream"), "dt=2026-11-21/hour=23"), None)
    assert delete == [
        """DELETE FROM "raw"."clickstream_events" WHERE "arrival_hour" >= TIMESTAMP '2026-11-21 23:00:00' """
        """AND "arrival_hour" < TIMESTAMP '2026-11-22 00:00:00'"""
    ]
    daily = RedshiftStatements(get_source("pinpoint_endpoints"), "raw", ROLE)
    (delete,) = daily.reload(StagedPartition.parse(get_source("pinpoint_endpoints"), "dt=2026-11-21"), None)
    assert "'2026-11-21 00:00:00'" in delete and "'2026-11-22 00:00:00'" in delete


def test_batches_hold_at_most_40_statements_and_never_split_a_delete_from_its_copy() -> None:
    reloads = [[f"DELETE {i}", f"COPY {i}"] for i in range(45)]
    batches = plan_batches(["CREATE SCHEMA", "CREATE TABLE"], reloads, "SELECT COUNT")
    assert all(len(batch) <= MAX_STATEMENTS_PER_BATCH for batch in batches)
    assert [statement for batch in batches for statement in batch] == [
        "CREATE SCHEMA",
        "CREATE TABLE",
        *[statement for group in reloads for statement in group],
        "SELECT COUNT",
    ]
    for batch in batches:
        deletes = [s for s in batch if s.startswith("DELETE")]
        assert [f"COPY {s.split()[1]}" for s in deletes] == [s for s in batch if s.startswith("COPY")]


def test_register_runs_one_transaction_per_batch_through_the_data_api(staged_lake: tuple[Lake, Any]) -> None:
    lake, staged = staged_lake
    source = get_source("clickstream")
    loader, stubber = make_loader()
    (batch,) = loader.statements(lake, source, staged["clickstream"])
    assert len(batch) == 2 + 2 * 2 + 1  # schema + table, two partitions x (delete + copy), count
    copies = [statement for statement in batch if statement.startswith("COPY")]
    assert [parse(copy).args["files"][0].this for copy in copies] == [
        lake.url_of("staged/clickstream/dt=2026-11-21/hour=23/"),
        lake.url_of("staged/clickstream/dt=2026-11-22/hour=00/"),
    ]

    for run in (1, 2):  # registering twice issues the same statements: delete-then-copy replaces, never adds
        expect_batch(stubber, f"stmt-{run}", batch, "ewh-register-clickstream_events-1-of-1")
        stubber.add_response(
            "get_statement_result", {"Records": [[{"longValue": 6}]], "TotalNumRows": 1}, {"Id": f"stmt-{run}:7"}
        )
    with stubber:
        assert loader.register(lake, source, staged["clickstream"]) == 6
        assert loader.register(lake, source, staged["clickstream"]) == 6
    stubber.assert_no_pending_responses()


def test_register_without_partitions_reloads_everything_staged(staged_lake: tuple[Lake, Any]) -> None:
    lake, staged = staged_lake
    loader, _ = make_loader()
    for source in all_sources():
        assert loader.statements(lake, source) == loader.statements(lake, source, staged[source.name])


def test_a_partition_with_no_staged_file_is_emptied_not_copied(staged_lake: tuple[Lake, Any]) -> None:
    lake, _ = staged_lake
    loader, _ = make_loader()
    (batch,) = loader.statements(lake, get_source("clickstream"), ["staged/clickstream/dt=2026-11-23/hour=05"])
    assert [statement.split()[0] for statement in batch] == ["CREATE", "CREATE", "DELETE", "SELECT"]


def test_a_failed_batch_raises_with_redshift_error(staged_lake: tuple[Lake, Any]) -> None:
    lake, staged = staged_lake
    loader, stubber = make_loader()
    source = get_source("pinpoint_events")
    (batch,) = loader.statements(lake, source, staged["pinpoint_events"])
    stubber.add_response("batch_execute_statement", {"Id": "stmt-bad"}, None)
    stubber.add_response(
        "describe_statement", {"Id": "stmt-bad", "Status": "FAILED", "Error": "S3ServiceException: Access Denied"}
    )
    with stubber, pytest.raises(RedshiftDataQueryFailedError, match="Access Denied"):
        loader.register(lake, source, staged["pinpoint_events"])
    assert batch  # the statements were built before the call failed


def test_a_file_lake_is_refused_with_a_clear_message(tmp_path: Any) -> None:
    loader, _ = make_loader()
    with pytest.raises(ValueError, match="EWH_LAKE_URL=s3://"):
        loader.statements(Lake(tmp_path.as_uri()), get_source("clickstream"))


def test_partitions_in_the_wrong_layout_are_refused() -> None:
    with pytest.raises(ValueError, match="partitioned by hour"):
        StagedPartition.parse(get_source("clickstream"), "dt=2026-11-22")
    with pytest.raises(ValueError, match="not a staged partition"):
        StagedPartition.parse(get_source("clickstream"), "staged/other/dt=2026-11-22/hour=01")


class FakeConnection:
    """What BaseHook.get_connection returns, reduced to the fields the config reads."""

    host = "ewh-cluster.abc123.us-east-1.redshift.amazonaws.com"
    schema = "analytics"
    login = "ewh_loader"
    extra_dejson: dict[str, str] = {}


def test_config_reads_the_environment_then_the_connection() -> None:
    env = {"EWH_REDSHIFT_COPY_ROLE_ARN": ROLE, "EWH_REDSHIFT_POLL_SECONDS": "1"}
    config = RedshiftConfig.from_env(env, connection=FakeConnection())
    assert (config.cluster_identifier, config.workgroup_name, config.database, config.db_user) == (
        "ewh-cluster",
        None,
        "analytics",
        "ewh_loader",
    )
    serverless = RedshiftConfig.from_env(
        {**env, "EWH_REDSHIFT_WORKGROUP_NAME": "ewh-wg", "EWH_REDSHIFT_DATABASE": "dev"}, connection=FakeConnection()
    )
    assert (serverless.workgroup_name, serverless.cluster_identifier, serverless.database) == ("ewh-wg", None, "dev")
    with pytest.raises(ValueError, match="EWH_REDSHIFT_COPY_ROLE_ARN"):
        RedshiftConfig.from_env({}, connection=FakeConnection())


def test_unknown_arrow_types_are_refused() -> None:
    from engagement_warehouse.warehouse.redshift import redshift_type

    assert redshift_type(pa.timestamp("us", tz="UTC")) == "TIMESTAMPTZ"
    with pytest.raises(TypeError, match="no Redshift type"):
        redshift_type(pa.list_(pa.string()))


def test_config_falls_back_to_the_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_EWH_TEST_REDSHIFT",
        "redshift://ewh_loader:secret-password@ewh-cluster.abc123.us-east-1.redshift.amazonaws.com:5439/analytics",
    )
    config = RedshiftConfig.from_env({"EWH_REDSHIFT_CONN_ID": "ewh_test_redshift", "EWH_REDSHIFT_COPY_ROLE_ARN": ROLE})
    assert (config.cluster_identifier, config.database, config.db_user) == ("ewh-cluster", "analytics", "ewh_loader")
    with pytest.raises(ValueError, match="EWH_REDSHIFT_CLUSTER_IDENTIFIER"):
        RedshiftConfig.from_env({"EWH_REDSHIFT_CONN_ID": "ewh_missing", "EWH_REDSHIFT_COPY_ROLE_ARN": ROLE})
