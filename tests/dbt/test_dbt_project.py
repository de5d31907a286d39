"""The dbt project: builds green on DuckDB, and compiles offline to SQL Redshift and Athena can run.

- `dbt build` (models, data tests and unit tests) on a small raw fixture, then checks on the marts:
  the export contract's relation and types, the stable view, segment membership.
- `dbt compile --no-introspect --no-populate-cache` for redshift and athena with both incremental
  branches, then every compiled model is parsed with sqlglot in the target's dialect and checked for
  constructs the engine lacks (QUALIFY on Athena, try_cast on Redshift, DuckDB-only functions).

The build runs once per session (`built_warehouse` in conftest.py). dbt runs from its own virtualenv
(.venv-dbt); the tests are skipped when it is not installed.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from .dbt_cli import DBT, run_dbt

pytestmark = pytest.mark.skipif(not DBT.exists(), reason="dbt virtualenv (.venv-dbt) is not installed")

# Functions DuckDB has and the production engines do not (sqlglot parses unknown names as Anonymous).
DUCKDB_ONLY_FUNCTIONS = {
    "list_value",
    "struct_pack",
    "json_extract_string",
    "string_agg",
    "list_aggregate",
    "epoch_ms",
    "strftime",
    "regexp_matches",
}
WALL_CLOCK_FUNCTIONS = ("current_date", "current_timestamp", "now()", "getdate()", "sysdate")


def _query(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_stable_view_serves_the_latest_version(built_warehouse: Path) -> None:
    stable = _query(built_warehouse, "select * from marts.endpoint_segment_attributes order by endpoint_id")
    versioned = _query(built_warehouse, "select * from marts.endpoint_segment_attributes_v1 order by endpoint_id")
    assert stable == versioned and len(stable) > 0
    kinds = _query(
        built_warehouse,
        "select table_name, table_type from information_schema.tables where table_schema = 'marts' "
        "and table_name like 'endpoint_segment_attributes%' order by 1",
    )
    assert kinds == [
        ("endpoint_segment_attributes", "VIEW"),
        ("endpoint_segment_attributes_v1", "BASE TABLE"),
    ]


def test_export_contract_types(built_warehouse: Path) -> None:
    columns = _query(
        built_warehouse,
        "select column_name, data_type from information_schema.columns where table_schema = 'marts' "
        "and table_name = 'endpoint_segment_attributes_v1' order by ordinal_position",
    )
    assert columns == [
        ("endpoint_id", "VARCHAR"),
        ("channel_type", "VARCHAR"),
        ("address", "VARCHAR"),
        ("opt_out", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("lifecycle_stage", "VARCHAR"),
        ("clv_tier", "VARCHAR"),
        ("usage_tier", "VARCHAR"),
        ("preferred_category", "VARCHAR"),
        ("recommended_items", "VARCHAR"),
        ("loyalty_tier", "VARCHAR"),
        ("lifetime_orders", "BIGINT"),
        ("lifetime_revenue", "DECIMAL(18,2)"),
        ("days_since_last_order", "INTEGER"),
    ]


def test_only_active_opted_in_endpoints_are_exported(built_warehouse: Path) -> None:
    exported = {row[0] for row in _query(built_warehouse, "select endpoint_id from marts.endpoint_segment_attributes")}
    assert "ep-sms-u001" not in exported  # opt_out = ALL in the fixture
    assert {"ep-email-u001", "ep-sms-u002"} <= exported
    assert _query(built_warehouse, "select distinct opt_out from marts.endpoint_segment_attributes") == [("NONE",)]


def test_segments_have_the_expected_members(built_warehouse: Path) -> None:
    def members(model: str) -> set[str]:
        return {row[0] for row in _query(built_warehouse, f"select user_id from segments.{model}")}

    assert members("segment_high_value_lapsed") == {"u002"}
    assert members("segment_email_unengaged_90d") == {"u002", "u005"}
    assert "u001" in members("segment_cart_abandoners_7d")
    assert members("segment_category_affinity_outerwear") == {"u001"}


def test_profiles_resolve_partner_and_stitched_history(built_warehouse: Path) -> None:
    rows = _query(
        built_warehouse,
        "select user_id, lifecycle_stage, lifetime_orders, loyalty_tier, "
        "email_sha256 = sha256(lower(user_id) || '@example.com') from marts.user_profiles order by user_id",
    )
    by_user = {row[0]: row[1:] for row in rows}
    assert set(by_user) == {"u001", "u002", "u003", "u004", "u005"}
    assert by_user["u001"] == ("active", 2, "gold", True)  # latest partner file wins; email normalised
    assert by_user["u003"][0] == "new"
    assert by_user["u005"][0] == "churned"
    # order lines come from the Order Completed products array: 2 + 3 + 1 orders of one product each
    assert _query(built_warehouse, "select count(*) from intermediate.int_order_items") == [(6,)]
    # the anonymous product view before the identify call is attributed to the user
    stitched = _query(
        built_warehouse,
        "select resolved_user_id from intermediate.int_clickstream_events_stitched "
        "where anonymous_id = 'anon-0' and user_id is null",
    )
    assert stitched and {row[0] for row in stitched} == {"u001"}


def test_no_events_after_as_of_and_no_duplicates(built_warehouse: Path) -> None:
    total, distinct, latest = _query(
        built_warehouse,
        "select count(*), count(distinct message_id), max(event_at) from staging.stg_clickstream__events",
    )[0]
    assert total == distinct
    assert latest.isoformat() < "2026-11-23"


def _compile(target: str, incremental: bool, tmp: Path) -> Path:
    target_path = tmp / f"{target}-{str(incremental).lower()}"
    result = run_dbt(
        [
            "compile",
            "--target",
            target,
            "--no-introspect",
            "--no-populate-cache",
            "--vars",
            json.dumps({"as_of": "2026-11-22", "offline_incremental": incremental}),
            "--target-path",
            str(target_path),
        ],
        {"EWH_TARGET": target},
        tmp,
    )
    assert result.returncode == 0, f"{target} incremental={incremental}\n{result.stdout[-4000:]}"
    return target_path / "compiled" / "engagement_warehouse" / "models"


@pytest.fixture(scope="module")
def compiled_offline(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool], Path]:
    tmp = tmp_path_factory.mktemp("dbt-compile")
    jobs = [(target, incremental) for target in ("redshift", "athena") for incremental in (True, False)]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        paths = list(pool.map(lambda job: _compile(job[0], job[1], tmp), jobs))
    return dict(zip(jobs, paths, strict=True))


@pytest.mark.parametrize(("target", "dialect"), [("redshift", "redshift"), ("athena", "trino")])
@pytest.mark.parametrize("incremental", [True, False])
def test_offline_compile_parses_in_target_dialect(
    compiled_offline: dict[tuple[str, bool], Path], target: str, dialect: str, incremental: bool
) -> None:
    models = sorted(compiled_offline[(target, incremental)].rglob("*.sql"))
    models = [m for m in models if not m.parent.name.endswith(".yml")]  # model SQL only, not data tests
    assert len(models) >= 15
    problems: list[str] = []
    for model in models:
        sql = model.read_text()
        lowered = sql.lower()
        problems += [f"{model.name}: wall clock {f}" for f in WALL_CLOCK_FUNCTIONS if f in lowered]
        try:
            tree = sqlglot.parse_one(sql, read=dialect)
        except sqlglot.errors.ParseError as error:
            problems.append(f"{model.name}: {error}")
            continue
        if tree.find(exp.Qualify):
            problems.append(f"{model.name}: QUALIFY")
        if dialect == "redshift" and tree.find(exp.TryCast):
            problems.append(f"{model.name}: try_cast (Redshift has none)")
        for call in tree.find_all(exp.Anonymous):
            if call.name.lower() in DUCKDB_ONLY_FUNCTIONS:
                problems.append(f"{model.name}: DuckDB-only function {call.name}")
    assert not problems, "\n".join(problems)


def test_incremental_branch_is_bounded_by_the_lookback(
    compiled_offline: dict[tuple[str, bool], Path],
) -> None:
    incremental = (compiled_offline[("redshift", True)] / "staging" / "stg_clickstream__events.sql").read_text()
    full = (compiled_offline[("redshift", False)] / "staging" / "stg_clickstream__events.sql").read_text()
    assert "event_at >=" in incremental and "-3" in incremental
    assert "event_at >=" not in full
    assert "json_extract_path_text" in full
    athena = (compiled_offline[("athena", False)] / "staging" / "stg_pinpoint__events.sql").read_text()
    assert "json_extract_scalar" in athena


def test_manifest_declares_the_export_contract(compiled_offline: dict[tuple[str, bool], Path]) -> None:
    manifest_path = compiled_offline[("redshift", False)].parents[2] / "manifest.json"
    nodes = json.loads(manifest_path.read_text())["nodes"]
    export = nodes["model.engagement_warehouse.endpoint_segment_attributes.v1"]
    assert export["contract"]["enforced"] is True
    assert export["latest_version"] == 1
    paths = {name: column["meta"].get("pinpoint") for name, column in export["columns"].items()}
    assert paths["endpoint_id"] == "Id"
    assert paths["recommended_items"] == "User.UserAttributes.RecommendedItems"
    assert export["columns"]["recommended_items"]["meta"]["pinpoint_multi_value_separator"] == "|"
    assert all(paths.values()), paths
    segments = {
        node["name"]: node["config"]["meta"].get("pinpoint_segment")
        for node in nodes.values()
        if node["resource_type"] == "model" and node["original_file_path"].startswith("models/segments/")
    }
    assert len(segments) == 4 and all(segments.values()), segments


def test_every_unit_test_pins_as_of(compiled_offline: dict[tuple[str, bool], Path]) -> None:
    # Airflow's dbt test task runs the unit tests with the run's as_of: a fixture dated after a backfill's day
    # (or before it, for a model bounded below) would fail that run unless the test sets its own as_of.
    manifest_path = compiled_offline[("redshift", False)].parents[2] / "manifest.json"
    unit_tests = json.loads(manifest_path.read_text())["unit_tests"]
    assert unit_tests
    unpinned = [
        test["name"] for test in unit_tests.values() if "as_of" not in (test.get("overrides") or {}).get("vars", {})
    ]
    assert not unpinned, f"unit tests without overrides: vars: as_of: {unpinned}"


def test_dbt_caps_duckdb_memory_with_the_project_setting(tmp_path: Path) -> None:
    """EWH_DUCKDB_MEMORY_LIMIT caps dbt's DuckDB too (at the large bench scale it otherwise peaks at 13 GB)."""
    env = {"EWH_DUCKDB_PATH": str(tmp_path / "w.duckdb"), "EWH_DUCKDB_MEMORY_LIMIT": "1GB", "EWH_TARGET": "duckdb"}
    shown = run_dbt(
        [
            "show",
            "--quiet",
            "--target-path",
            str(tmp_path / "target"),
            "--inline",
            "select current_setting('memory_limit') as memory_limit",
        ],
        env,
        tmp_path,
    )
    assert shown.returncode == 0, shown.stdout[-2000:] + shown.stderr[-2000:]
    assert "953.6 MiB" in shown.stdout  # DuckDB reports 1GB (10^9 bytes) in MiB
