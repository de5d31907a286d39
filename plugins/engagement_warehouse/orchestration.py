"""What the DAGs share: the assets that chain them, default task arguments, and the run's `as_of` date.

The assets name each hand-off (see the README's flow diagram):
raw sources landed -> marts built and gated -> Pinpoint synced. Each DAG consumes one kind and produces the next.
This module imports only the Airflow SDK, so DAG files that import it parse fast.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from airflow.sdk import Asset

from engagement_warehouse.notifications import EngagementNotifier

log = logging.getLogger(__name__)

OWNER = "engagement-warehouse"
DUCKDB_POOL = "duckdb_warehouse"  # DuckDB allows one writer per file: tasks that write it share a pool of 1
PINPOINT_IMPORT_POOL = "pinpoint_import_jobs"  # Pinpoint runs 2 import jobs at once per account by default
START_DATE = datetime(2026, 1, 1)

RAW_CLICKSTREAM = Asset(name="raw_clickstream", uri="ewh://warehouse/raw/clickstream")
RAW_ENGAGEMENT = Asset(name="raw_engagement", uri="ewh://warehouse/raw/engagement")
RAW_PARTNER = Asset(name="raw_partner", uri="ewh://warehouse/raw/partner")
MARTS_GATED = Asset(name="marts_gated", uri="ewh://warehouse/marts/gated")
PINPOINT_SYNCED = Asset(name="pinpoint_synced", uri="ewh://destinations/pinpoint/synced")

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    # The delay between tries is Airflow's `[core] default_task_retry_delay` (AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY,
    # seconds): deployment configuration, not code. The Makefile and docker-compose.yaml set 120.
    # Final failures (a blocked gate or circuit breaker included) reach an operator: SNS or a local file.
    "on_failure_callback": EngagementNotifier("task_failed"),
}


def resolve_as_of(context: dict[str, Any]) -> date:
    """The day a run is about: every model window and export is relative to it, never to the wall clock.

    In order: the `as_of` DAG param (operators rebuild a past day with it); the latest `as_of` carried by the
    asset events that triggered the run; the last complete day of the run's data interval; the logical date.
    """
    params = context.get("params") or {}
    if params.get("as_of"):
        return date.fromisoformat(str(params["as_of"]))
    events = context.get("triggering_asset_events") or {}
    carried = [
        str(event.extra["as_of"])
        for asset_events in events.values()
        for event in asset_events
        if getattr(event, "extra", None) and event.extra.get("as_of")
    ]
    if carried:
        return date.fromisoformat(max(carried))
    interval_end = context.get("data_interval_end")
    interval_start = context.get("data_interval_start")
    if interval_end is not None and interval_start is not None and interval_end > interval_start:
        return (interval_end - timedelta(days=1)).date()
    logical = context.get("logical_date") or context["dag_run"].run_after
    return logical.date()


def marts_as_of(context: dict[str, Any]) -> date:
    """The day `build_marts` builds: `resolve_as_of`, but never older than the day the marts now hold.

    A backfill of past ingest days carries those days on its asset events; rebuilding the marts as of them would
    turn back every window (and export stale attributes to Pinpoint). Their late rows are built into the marts as
    of the day of the latest `marts_gated` event instead, which the task must declare as an inlet
    (`inlets=[MARTS_GATED]`). An explicit `as_of` param is an operator's request to rebuild that exact day, and is
    always honoured.
    """
    day = resolve_as_of(context)
    if (context.get("params") or {}).get("as_of"):
        return day
    latest = list(context["inlet_events"][MARTS_GATED].ascending(False).limit(1))
    newest = str((latest[0].extra or {}).get("as_of") or "") if latest else ""
    if newest and date.fromisoformat(newest) > day:
        log.info("the triggering events are about %s; building the marts as of %s, the day they hold", day, newest)
        return date.fromisoformat(newest)
    return day


def interval_end(as_of: date) -> datetime:
    """Landing lands raw partitions that start before the end of `as_of` (naive UTC)."""
    return datetime(as_of.year, as_of.month, as_of.day) + timedelta(days=1)


def ingest_dag(dag_id: str, doc_md: str, sources: list[str] | None, outlet: Asset) -> Any:
    """An ingest DAG: land the sources into the lake's staged layer, register them in the warehouse, check the
    day's rows with the DAG's Great Expectations checkpoint, and announce `outlet` with the run's counts.

    `sources=None` means every partner contract (read when the task runs, so a new contract needs no DAG change).
    Each DAG file calls this once, so the DAGs stay one per file and read like a table of contents.
    """
    from airflow.sdk import Param, dag, task
    from airflow.timetables.interval import CronDataIntervalTimetable

    @dag(
        dag_id=dag_id,
        doc_md=doc_md,
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["engagement-warehouse", "ingest"],
        params={"as_of": Param(None, type=["null", "string"], format="date", description="Rebuild this day")},
    )
    def ingest() -> None:
        # One landing at a time per DAG, across its runs and backfills (a backfill runs up to 10 at once by
        # default): two runs discovering the same unlanded object would both land it.
        @task(max_active_tis_per_dag=1)
        def land(**context: Any) -> dict[str, Any]:
            from engagement_warehouse.tasks import land_sources, partner_source_names

            as_of = resolve_as_of(context)
            names = sources if sources is not None else partner_source_names()
            landed = land_sources(names, as_of=as_of, run_id=context["run_id"])
            return {"as_of": as_of.isoformat(), "sources": names, "landed": landed}

        @task(pool=DUCKDB_POOL)
        def register(landed: dict[str, Any]) -> dict[str, Any]:
            from engagement_warehouse.tasks import register_sources

            touched = {name: result["staged_partitions"] for name, result in landed["landed"].items()}
            return {**landed, "tables": register_sources(landed["sources"], touched)}

        @task(outlets=[outlet])
        def check_staged(registered: dict[str, Any], **context: Any) -> dict[str, Any]:
            """The landing gate: a failed `fail` check stops here and the asset is not produced."""
            from engagement_warehouse.tasks import gate_staged

            verdict = gate_staged(dag_id, as_of=registered["as_of"], run_name=context["run_id"])
            context["outlet_events"][outlet].extra = {
                "as_of": registered["as_of"],
                "tables": registered["tables"],
            }
            return {"tables": registered["tables"], "gate": verdict}

        check_staged(register(land()))

    return ingest()
