"""Airflow DAG: build the user-profile and segment marts with dbt (through cosmos), then gate them.

- **Triggered by** the assets `raw_clickstream`, `raw_engagement` and `raw_partner` (all three landed).
- **Runs** the dbt project `dbt_project/` as one Airflow task per model (cosmos, rendered from the prebuilt
  manifest), with `--vars '{as_of: <day>}'`: every model window is relative to the run's day, never the clock.
  dbt tests run after all models (cosmos `AFTER_ALL`).
- **Gates** the export models with the Great Expectations checkpoint `build_marts` (suites in `expectations/`).
  A failed `fail`-severity check stops here: `marts_gated` is not produced and nothing is exported.
- **Produces** the asset `marts_gated` (with the run's `as_of`), which triggers `export_pinpoint`.
- **Rerun** rebuilds the same day's tables; the gate runs again on what was built.
- **Backfills** of past ingest days never turn the marts back: their late rows are built as of the newest day
  the marts already hold (`marts_as_of`).
- **Params** `as_of` (YYYY-MM-DD) rebuilds a past day.
"""

from typing import Any

from airflow.sdk import Param, dag, task
from cosmos import DbtTaskGroup

from engagement_warehouse.dbt_config import cosmos_configs
from engagement_warehouse.orchestration import (
    DEFAULT_ARGS,
    DUCKDB_POOL,
    MARTS_GATED,
    RAW_CLICKSTREAM,
    RAW_ENGAGEMENT,
    RAW_PARTNER,
    START_DATE,
    marts_as_of,
)
from engagement_warehouse.settings import get_settings


@dag(
    dag_id="build_marts",
    doc_md=__doc__,
    schedule=(RAW_CLICKSTREAM & RAW_ENGAGEMENT & RAW_PARTNER),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["engagement-warehouse", "dbt", "quality"],
    params={"as_of": Param(None, type=["null", "string"], format="date", description="Rebuild this day")},
)
def build_marts() -> None:
    @task(inlets=[MARTS_GATED])
    def resolve_day(**context: Any) -> str:
        return marts_as_of(context).isoformat()

    as_of = resolve_day()
    dbt = DbtTaskGroup(
        group_id="dbt",
        operator_args={
            "vars": {"as_of": "{{ ti.xcom_pull(task_ids='resolve_day') }}"},
            "pool": DUCKDB_POOL,
            "install_deps": False,
        },
        default_args=DEFAULT_ARGS,
        **cosmos_configs(get_settings()),
    )

    @task(outlets=[MARTS_GATED])
    def gate_export_models(as_of: str, **context: Any) -> dict[str, Any]:
        from engagement_warehouse.tasks import gate_marts

        result = gate_marts(as_of=as_of, run_name=context["run_id"])
        context["outlet_events"][MARTS_GATED].extra = {"as_of": as_of, "checks": result}
        return result

    as_of >> dbt >> gate_export_models(as_of)


build_marts()
