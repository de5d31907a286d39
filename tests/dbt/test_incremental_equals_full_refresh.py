"""N incremental runs equal one full refresh, on generated data arriving day by day.

Generated raw data for DAYS days (more than `lookback_days` + 1, so the first day falls out of the last
run's reprocessed window) is landed one day at a time through the real landing engine into a temporary lake,
the warehouse `raw` tables are re-registered by the DuckDB loader, and `dbt run` builds the incremental
warehouse with `as_of` = that day, as the daily Airflow run does. A second DuckDB registered from the same
staged files is then built once with `--full-refresh` for the last day. Every model (the incremental
staging models, sessions and device-day rollup, the views over them, the marts and the segments) must be equal
row for row in both.

Half a day of clickstream and Pinpoint objects is delivered exactly `lookback_days` late (moved to a later
day's prefix before landing), so the late events are only picked up if the lookback window reaches back to
them: an off-by-one in the window, or a strategy that drops late rows, makes the comparison fail.

The runs pass `lookback_days` = 1 (production default: 3): the window comes from the same macro whatever its
length, and a short one needs only 3 days of data, so 4 dbt invocations instead of 6 (each costs ~5 s).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from engagement_warehouse.lake import Lake
from engagement_warehouse.landing import land_source
from engagement_warehouse.orchestration import interval_end
from engagement_warehouse.sample_data import generate
from engagement_warehouse.sources import all_sources
from engagement_warehouse.warehouse.duckdb import DuckDBLoader

from .dbt_cli import DBT, run_dbt

pytestmark = pytest.mark.skipif(not DBT.exists(), reason="dbt virtualenv (.venv-dbt) is not installed")

END_DATE = date(2026, 11, 22)
LOOKBACK_DAYS = 1
DAYS = LOOKBACK_DAYS + 2
MODEL_SCHEMAS = ("staging", "intermediate", "marts", "segments")
INCREMENTAL_MODELS = (
    "stg_clickstream__events",
    "stg_pinpoint__events",
    "int_device_sessions",
    "int_device_daily_activity",
)
LATE_FROM_HOUR = 12  # objects of this hour (UTC) and later of the late day arrive late


def _deliver_late(lake: Lake, event_day: date, arrival_day: date) -> int:
    """Move the afternoon's raw clickstream and Pinpoint objects of `event_day` to `arrival_day`'s prefix."""
    moved = 0
    for source in ("clickstream", "pinpoint_events"):
        for obj in list(lake.list_objects(f"raw/{source}/{event_day:%Y/%m/%d}/")):
            hour = obj.key.split("/")[-2]
            if int(hour) < LATE_FROM_HOUR:
                continue
            late_key = f"raw/{source}/{arrival_day:%Y/%m/%d}/{hour}/late-{obj.key.rsplit('/', 1)[1]}"
            lake.write_bytes(late_key, lake.read_bytes(obj.key))
            lake.fs.rm(lake.path(obj.key))
            moved += 1
    return moved


def _register_all(lake: Lake, warehouse: Path) -> dict[str, int]:
    loader = DuckDBLoader(warehouse)
    return {source.table: loader.register(lake, source) for source in all_sources()}


def _dbt_run(warehouse: Path, as_of: date, target: Path, *extra: str) -> None:
    result = run_dbt(
        [
            "run",
            "--target",
            "duckdb",
            "--vars",
            json.dumps({"as_of": as_of.isoformat(), "lookback_days": LOOKBACK_DAYS}),
            "--target-path",
            str(target),
            *extra,
        ],
        {"EWH_DUCKDB_PATH": str(warehouse), "EWH_TARGET": "duckdb"},
        target,
    )
    assert result.returncode == 0, f"dbt run as_of={as_of} {extra}\n{result.stdout[-4000:]}{result.stderr[-2000:]}"


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(incremental warehouse after DAYS daily runs, warehouse built by one full refresh)."""
    root = tmp_path_factory.mktemp("dbt-incremental")
    lake = Lake((root / "lake").as_uri())
    generate(lake_url=lake.url, users=40, days=DAYS, seed=11, end_date=END_DATE, application_id="ewh-test-app")
    late_event_day = END_DATE - timedelta(days=LOOKBACK_DAYS)
    assert _deliver_late(lake, late_event_day, END_DATE) >= 2, "no objects to deliver late"

    # Database names are the file stems: keep them distinct so both files can be attached side by side.
    incremental, full_refresh = root / "incremental.duckdb", root / "full_refresh.duckdb"
    target = root / "target-incremental"
    previous_clicks = 0
    with ThreadPoolExecutor(max_workers=1) as background:
        for offset in range(DAYS - 1, -1, -1):
            day = END_DATE - timedelta(days=offset)
            for source in all_sources():
                land_source(lake, source, run_id=f"day-{day}", logical_date=day, until=interval_end(day))
            counts = _register_all(lake, incremental)
            assert counts["clickstream_events"] > previous_clicks, f"no clickstream arrived on {day}"
            previous_clicks = counts["clickstream_events"]
            if offset == 0:  # everything has landed: the full refresh runs beside the last incremental run
                _register_all(lake, full_refresh)
                full_build = background.submit(
                    _dbt_run, full_refresh, END_DATE, root / "target-full-refresh", "--full-refresh"
                )
            _dbt_run(incremental, day, target)
            if offset < DAYS - 1:  # after the first build, the event models must really run incrementally
                for model in INCREMENTAL_MODELS:
                    (executed,) = (target / "run" / "engagement_warehouse" / "models").glob(f"*/{model}.sql")
                    assert "delete from" in executed.read_text().lower(), f"{model} was rebuilt, not merged, on {day}"
        full_build.result()
    return incremental, full_refresh


def test_every_model_equals_the_full_refresh(warehouses: tuple[Path, Path]) -> None:
    incremental, full_refresh = warehouses
    con = duckdb.connect()
    try:
        con.execute(f"attach '{incremental}' as incremental (read_only)")
        con.execute(f"attach '{full_refresh}' as full_refresh (read_only)")
        schemas = ", ".join(f"'{schema}'" for schema in MODEL_SCHEMAS)
        relations_sql = (
            "select schema_name, table_name from duckdb_tables() where database_name = '{db}' "
            f"and schema_name in ({schemas}) "
            "union all select schema_name, view_name from duckdb_views() where database_name = '{db}' "
            f"and schema_name in ({schemas}) and not internal order by 1, 2"
        )
        relations = con.execute(relations_sql.format(db="incremental")).fetchall()
        assert relations == con.execute(relations_sql.format(db="full_refresh")).fetchall()
        names = {name for _, name in relations}
        assert {*INCREMENTAL_MODELS, "user_profiles", "endpoint_segment_attributes_v1", "engagement_daily"} <= names

        differences: list[str] = []
        for schema, name in relations:
            left, right = f"incremental.{schema}.{name}", f"full_refresh.{schema}.{name}"
            (rows,) = con.execute(f"select count(*) from {left}").fetchone()
            (only_incremental,) = con.execute(
                f"select count(*) from (select * from {left} except all select * from {right})"
            ).fetchone()
            (only_full,) = con.execute(
                f"select count(*) from (select * from {right} except all select * from {left})"
            ).fetchone()
            if only_incremental or only_full:
                differences.append(f"{schema}.{name}: {only_incremental} rows only incremental, {only_full} only full")
            if schema != "segments" and rows == 0:
                differences.append(f"{schema}.{name} is empty: the comparison would prove nothing")
        assert not differences, "\n".join(differences)

        # the late hour really arrived late, and the incremental runs kept it
        (late_rows,) = con.execute(
            "select count(*) from incremental.staging.stg_clickstream__events "
            f"where source_key like '%/late-%' and event_date = date '{END_DATE - timedelta(days=LOOKBACK_DAYS)}'"
        ).fetchone()
        assert late_rows > 0
        # the incremental event models hold the whole history, not only the last lookback window
        (first_day,) = con.execute("select min(event_date) from incremental.staging.stg_clickstream__events").fetchone()
        assert first_day <= END_DATE - timedelta(days=DAYS - 1)
    finally:
        con.close()
