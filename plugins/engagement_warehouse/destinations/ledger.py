"""The sync ledger: one row per sync step run (`ewh_sync.sync_runs`) and per item (`ewh_sync.sync_items`).

Rows are keyed by the Airflow run id, so a retry of the same run updates its rows instead of adding
new ones. Timestamps are passed in by the caller (the run's clock or the actual event time): nothing here
calls `now()`.

`sync_runs.step` (`endpoints` or `segments`) is an addition to the brief's column list so that both
steps of one run can be recorded under the same run id and destination.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from engagement_warehouse.destinations.base import ItemOutcome
from engagement_warehouse.destinations.state import SCHEMA, ensure_sync_schema


@dataclass(slots=True)
class SyncRun:
    """One row of `ewh_sync.sync_runs`."""

    run_id: str
    destination: str
    step: str
    logical_date: date
    started_at: datetime
    dry_run: bool
    finished_at: datetime | None = None
    endpoints_planned: int = 0
    endpoints_sent: int = 0
    endpoints_accepted: int = 0
    endpoints_failed: int = 0
    status: str = "running"


def write_run(conn: duckdb.DuckDBPyConnection, run: SyncRun) -> None:
    """Insert or update the run row."""
    ensure_sync_schema(conn)
    conn.execute(
        f"""
        insert or replace into {SCHEMA}.sync_runs
            (run_id, destination, step, logical_date, started_at, finished_at, dry_run,
             endpoints_planned, endpoints_sent, endpoints_accepted, endpoints_failed, status)
        values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            run.run_id,
            run.destination,
            run.step,
            run.logical_date,
            run.started_at,
            run.finished_at,
            run.dry_run,
            run.endpoints_planned,
            run.endpoints_sent,
            run.endpoints_accepted,
            run.endpoints_failed,
            run.status,
        ],
    )


def accepted_endpoint_count(conn: duckdb.DuckDBPyConnection, run_id: str, destination: str) -> int:
    """Endpoints recorded as accepted in this run, over every attempt of it (a retry keeps the earlier ones)."""
    ensure_sync_schema(conn)
    row = conn.execute(
        f"""
        select count(*) from {SCHEMA}.sync_items
        where run_id = ? and destination = ? and item_type = 'endpoint' and outcome = 'accepted'
        """,
        [run_id, destination],
    ).fetchone()
    return int(row[0]) if row else 0


def write_endpoint_items(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    destination: str,
    outcomes: Sequence[ItemOutcome],
    attempt_at: datetime,
) -> None:
    """Record endpoint outcomes (one row per endpoint per run; a retry overwrites).

    One set-based statement over unnested lists, not `executemany`: DuckDB runs `executemany` row by row
    (about 2 ms a row), which cost 0.2 s per 100-item batch and ate into the 2 requests/s send rate.
    """
    if not outcomes:
        return
    ensure_sync_schema(conn)
    conn.execute(
        f"""
        insert or replace into {SCHEMA}.sync_items
            (run_id, destination, item_type, item_id, outcome, reason, attempt_at)
        select $run_id, $destination, 'endpoint', unnest($ids::varchar[]), unnest($outcomes::varchar[]),
               unnest($reasons::varchar[]), $attempt_at
        """,
        {
            "run_id": run_id,
            "destination": destination,
            "ids": [o.item_id for o in outcomes],
            "outcomes": [o.outcome.value for o in outcomes],
            "reasons": [o.reason for o in outcomes],
            "attempt_at": attempt_at,
        },
    )


def write_plan_items(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    destination: str,
    plan_table: str,
    outcome: str,
    reason: str | None,
    attempt_at: datetime,
    exclude_ids: Sequence[str] = (),
) -> None:
    """Record one outcome for every planned endpoint except `exclude_ids` (set-based, for bulk imports)."""
    ensure_sync_schema(conn)
    conn.execute(
        f"""
        insert or replace into {SCHEMA}.sync_items
            (run_id, destination, item_type, item_id, outcome, reason, attempt_at)
        select $run_id, $destination, 'endpoint', endpoint_id, $outcome, $reason, $attempt_at
        from {plan_table}
        where endpoint_id not in (select unnest($exclude::varchar[]))
        """,
        {
            "run_id": run_id,
            "destination": destination,
            "outcome": outcome,
            "reason": reason,
            "attempt_at": attempt_at,
            "exclude": list(exclude_ids),
        },
    )


def write_disappeared_endpoints(
    conn: duckdb.DuckDBPyConnection, run_id: str, destination: str, query: str, attempt_at: datetime
) -> int:
    """Record endpoints gone from the export model (`query` yields their ids) as skipped; return count."""
    ensure_sync_schema(conn)
    conn.execute(
        f"""
        insert or replace into {SCHEMA}.sync_items
            (run_id, destination, item_type, item_id, outcome, reason, attempt_at)
        select $run_id, $destination, 'endpoint', endpoint_id, 'skipped',
               'disappeared upstream: kept in the destination (not deleted)', $attempt_at
        from ({query})
        """,
        {"run_id": run_id, "destination": destination, "attempt_at": attempt_at},
    )
    return conn.execute(
        f"""select count(*) from {SCHEMA}.sync_items
            where run_id = ? and destination = ? and item_type = 'endpoint' and outcome = 'skipped'
              and reason like 'disappeared upstream%'""",
        [run_id, destination],
    ).fetchone()[0]


def write_segment_item(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    destination: str,
    segment_model: str,
    outcome: str,
    attempt_at: datetime,
    reason: str | None = None,
    job_id: str | None = None,
    segment_id: str | None = None,
    rows: int | None = None,
    job_status: str | None = None,
    duration_seconds: float | None = None,
) -> None:
    """Record (or update) the outcome of one segment import in this run."""
    ensure_sync_schema(conn)
    conn.execute(
        f"""
        insert into {SCHEMA}.sync_items
            (run_id, destination, item_type, item_id, outcome, reason, attempt_at,
             job_id, segment_id, rows, job_status, duration_seconds)
        values (?, ?, 'segment', ?, ?, ?, ?, ?, ?, ?, ?, ?)
        on conflict (run_id, destination, item_type, item_id) do update set
            outcome = excluded.outcome,
            reason = excluded.reason,
            attempt_at = coalesce(sync_items.attempt_at, excluded.attempt_at),
            job_id = coalesce(excluded.job_id, sync_items.job_id),
            segment_id = coalesce(excluded.segment_id, sync_items.segment_id),
            rows = coalesce(excluded.rows, sync_items.rows),
            job_status = coalesce(excluded.job_status, sync_items.job_status),
            duration_seconds = coalesce(excluded.duration_seconds, sync_items.duration_seconds)
        """,
        [
            run_id,
            destination,
            segment_model,
            outcome,
            reason,
            attempt_at,
            job_id,
            segment_id,
            rows,
            job_status,
            duration_seconds,
        ],
    )


def started_segment_job(
    conn: duckdb.DuckDBPyConnection, run_id: str, destination: str, segment_model: str
) -> tuple[str, str | None] | None:
    """(job id, segment id) of the import job this run already started for a segment, unless that job failed.

    A retried task (a crashed worker, or Airflow retrying a task whose success report was lost) resumes
    waiting on this job instead of importing the same segment a second time.
    """
    ensure_sync_schema(conn)
    row = conn.execute(
        f"""
        select job_id, segment_id from {SCHEMA}.sync_items
        where run_id = ? and destination = ? and item_type = 'segment' and item_id = ?
          and job_id is not null and outcome in ('started', 'accepted')
        """,
        [run_id, destination, segment_model],
    ).fetchone()
    return (str(row[0]), row[1]) if row else None


def last_segment_rows(conn: duckdb.DuckDBPyConnection, destination: str, segment_model: str) -> int | None:
    """Members in the last accepted (imported) version of a segment, for dry-run size changes."""
    ensure_sync_schema(conn)
    row = conn.execute(
        f"""
        select rows from {SCHEMA}.sync_items
        where destination = ? and item_type = 'segment' and item_id = ? and outcome = 'accepted'
        order by attempt_at desc nulls last
        limit 1
        """,
        [destination, segment_model],
    ).fetchone()
    return row[0] if row else None
