"""Airflow DAG: sync the gated marts to Amazon Pinpoint: changed endpoint attributes, then imported segments.

- **Triggered by** the asset `marts_gated`: only marts that passed the quality gate are ever exported.
- **Circuit breaker** first: if a segment's size or the number of changed endpoints swings more than 30 %
  (`EWH_EXPORT_SWING_THRESHOLD`) from the last successful export, nothing is sent until an operator approves
  (param `approve_swing=true`, or the Variable `ewh_export_swing_approved` set to the run id).
- **Endpoints**: the export model `marts.endpoint_segment_attributes` (its columns' Pinpoint paths come from the
  dbt manifest's column `meta`) is diffed against the last-synced state in `ewh_sync.endpoint_state`; only new
  or changed endpoints are sent with UpdateEndpointsBatch (<= 100 items and 7 MB a request, 2 requests/s by
  default, botocore's adaptive retries). State is committed per batch, after Pinpoint accepted it.
- **Segments**: each model under `dbt_project/models/segments/` is written as a CSV under
  `exports/pinpoint/segments/<segment>/<day>/` and imported with CreateImportJob into its stored segment id
  (the first run defines it). Each import waits in the triggerer (deferred), at most 2 at a time (pool
  `pinpoint_import_jobs`).
- **Ledger**: every run and item lands in `ewh_sync.sync_runs` / `ewh_sync.sync_items`; the HTML sync report
  (segment sizes over time, endpoints changed per run, failures) is rewritten at the end of each run.
- **Rerun** of the same day sends nothing new (nothing changed) and re-imports into the same segments.
- **Params** `dry_run=true` writes the planned payloads and a readable diff under
  `exports/pinpoint/dry_run/<day>/` and makes no Pinpoint call; `as_of` exports a past day.
"""

from typing import Any

from airflow.sdk import Param, dag, task

from engagement_warehouse.destinations.pinpoint.operators import PinpointSegmentImportOperator
from engagement_warehouse.notifications import EngagementNotifier
from engagement_warehouse.orchestration import (
    DEFAULT_ARGS,
    DUCKDB_POOL,
    MARTS_GATED,
    PINPOINT_IMPORT_POOL,
    PINPOINT_SYNCED,
    START_DATE,
    resolve_as_of,
)


@dag(
    dag_id="export_pinpoint",
    doc_md=__doc__,
    schedule=[MARTS_GATED],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["engagement-warehouse", "export", "pinpoint"],
    params={
        "as_of": Param(None, type=["null", "string"], format="date", description="Export this day's marts"),
        "dry_run": Param(False, type="boolean", description="Plan and preview only: no Pinpoint call"),
        "approve_swing": Param(False, type="boolean", description="Export despite a circuit-breaker swing"),
    },
)
def export_pinpoint() -> None:
    @task
    def resolve_day(**context: Any) -> str:
        return resolve_as_of(context).isoformat()

    @task(pool=DUCKDB_POOL)
    def check_swing(as_of: str, **context: Any) -> dict[str, Any]:
        from airflow.sdk import Variable

        from engagement_warehouse.quality.circuit_breaker import APPROVAL_VARIABLE
        from engagement_warehouse.tasks import check_export_swing

        approved = bool(context["params"]["approve_swing"]) or (
            Variable.get(APPROVAL_VARIABLE, default=None) == context["run_id"]
        )
        return check_export_swing(as_of=as_of, run_id=context["run_id"], approved=approved)

    @task(pool=DUCKDB_POOL)
    def sync_endpoints(as_of: str, **context: Any) -> dict[str, Any]:
        from engagement_warehouse.tasks import sync_pinpoint_endpoints

        return sync_pinpoint_endpoints(as_of=as_of, run_id=context["run_id"], dry_run=context["params"]["dry_run"])

    @task(pool=DUCKDB_POOL)
    def write_segment_files(as_of: str, **context: Any) -> list[dict[str, Any]]:
        from engagement_warehouse.tasks import write_pinpoint_segment_files

        return write_pinpoint_segment_files(as_of=as_of, run_id=context["run_id"], dry_run=context["params"]["dry_run"])

    @task(
        outlets=[PINPOINT_SYNCED],
        trigger_rule="none_failed",
        pool=DUCKDB_POOL,
        on_success_callback=EngagementNotifier("sync_completed"),
    )
    def finish(as_of: str, swing: dict[str, Any], endpoints: dict[str, Any], **context: Any) -> dict[str, Any]:
        from engagement_warehouse.tasks import record_export_baseline

        if not context["params"]["dry_run"] and endpoints.get("failed", 0) == 0:
            record_export_baseline(as_of=as_of, run_id=context["run_id"], counts=swing["counts"])
        context["outlet_events"][PINPOINT_SYNCED].extra = {
            "as_of": as_of,
            "dry_run": context["params"]["dry_run"],
            "endpoints_accepted": endpoints.get("accepted"),
            "endpoints_failed": endpoints.get("failed"),
        }
        from engagement_warehouse.tasks import write_sync_report

        context["outlet_events"][PINPOINT_SYNCED].extra["sync_report"] = write_sync_report()
        return endpoints

    as_of = resolve_day()
    swing = check_swing(as_of)
    endpoints = sync_endpoints(as_of)
    swing >> endpoints
    exports = write_segment_files(as_of)
    endpoints >> exports
    imports = PinpointSegmentImportOperator.partial(
        task_id="import_segment",
        pool=PINPOINT_IMPORT_POOL,
        map_index_template="{{ task.export['segment_model'] }}",
    ).expand(export=exports)
    imports >> finish(as_of, swing, endpoints)


export_pinpoint()
