"""Top-level functions, one per DAG step, for the Pinpoint destination.

- `sync_endpoint_attributes`: diff the export model against the last-synced state and send the changed
  endpoints with UpdateEndpointsBatch (or write the plan only, with `dry_run=True`).
- `export_segments`: write each segment model's members as CSV under the lake's exports prefix.
- `start_segment_import`: CreateImportJob for one exported segment (define it once, then re-import into
  the stored segment id). The DAG runs one mapped task per segment with `max_active_tis_per_dagrun=2`
  (Pinpoint allows 2 concurrent import jobs by default), followed by the deferrable
  `PinpointImportJobSensor` (operators.py).
- `record_segment_import_result`: write the job's terminal state to the registry and the ledger.
- `import_segments`: the synchronous all-in-one (start, poll, record) with at most `max_in_flight`
  jobs at once, for scripts and tests.

Every function takes the DuckDB connection to the warehouse; state and ledger live in schema `ewh_sync`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import fsspec
from botocore.exceptions import ClientError

from engagement_warehouse.destinations import ledger
from engagement_warehouse.destinations.base import (
    ItemOutcome,
    Outcome,
    SegmentExport,
    SegmentImportHandle,
)
from engagement_warehouse.destinations.export_contract import (
    find_export_contract,
    find_segment_models,
    load_manifest,
)
from engagement_warehouse.destinations.pinpoint.batching import (
    MAX_ITEMS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    RateLimiter,
)
from engagement_warehouse.destinations.pinpoint.bulk import PinpointBulkImport
from engagement_warehouse.destinations.pinpoint.destination import PinpointDestination
from engagement_warehouse.destinations.pinpoint.import_files import (
    DEFAULT_MAX_FILE_BYTES,
    write_segment_files,
)
from engagement_warehouse.destinations.pinpoint.jobs import (
    TERMINAL_STATES,
    get_import_job,
)
from engagement_warehouse.destinations.pinpoint.payload import PayloadLimits
from engagement_warehouse.destinations.state import ensure_sync_schema, get_segment_id, record_segment_id
from engagement_warehouse.destinations.sync import EndpointSyncResult, sync_endpoints, utc_now

log = logging.getLogger(__name__)

DRY_RUN_PREFIX = "exports/pinpoint/dry_run"


def destination_name(application_id: str) -> str:
    """The key under which Pinpoint state and ledger rows are stored."""
    return f"pinpoint:{application_id}"


def dry_run_url(lake_url: str, logical_date: date) -> str:
    """Where a dry run writes its plan: `<lake>/exports/pinpoint/dry_run/<YYYY-MM-DD>/`."""
    return f"{lake_url.rstrip('/')}/{DRY_RUN_PREFIX}/{logical_date.isoformat()}/"


def _lake(lake_url: str | None) -> str:
    if lake_url:
        return lake_url
    from engagement_warehouse.settings import get_settings

    return get_settings().lake_url


def sync_endpoint_attributes(
    conn: duckdb.DuckDBPyConnection,
    manifest_path: str | Path,
    client: Any,
    application_id: str,
    run_id: str,
    logical_date: date,
    rate_per_second: float = 2.0,
    dry_run: bool = False,
    *,
    lake_url: str | None = None,
    run_at: datetime | None = None,
    max_items: int = MAX_ITEMS_PER_REQUEST,
    max_bytes: int = MAX_REQUEST_BYTES,
    limits: PayloadLimits | None = None,
    rate_limiter: RateLimiter | None = None,
    storage_options: dict[str, Any] | None = None,
    clock: Callable[[], datetime] = utc_now,
    bulk_threshold: int | None = None,
    import_role_arn: str | None = None,
    bulk_poll_interval: float = 10.0,
) -> EndpointSyncResult:
    """Sync the export model's new or changed endpoints to Pinpoint; see `destinations.sync`.

    `client` is a boto3 Pinpoint client (`make_pinpoint_client`); with `dry_run=True` it is never
    called (pass None if you like) and the plan goes to `<lake>/exports/pinpoint/dry_run/<date>/`.
    With `bulk_threshold` (and `import_role_arn`), more than that many changed endpoints go through one
    import job instead of batches (see `pinpoint/bulk.py`).
    """
    contract = find_export_contract(load_manifest(manifest_path))
    bulk = None
    if bulk_threshold is not None and not dry_run:
        if not import_role_arn:
            raise ValueError("bulk_threshold needs import_role_arn")
        bulk = PinpointBulkImport(
            client,
            application_id,
            import_role_arn,
            _lake(lake_url),
            logical_date,
            threshold=bulk_threshold,
            limits=limits,
            poll_interval=bulk_poll_interval,
            storage_options=storage_options,
        )
    destination = PinpointDestination(
        client,
        application_id,
        rate_per_second=rate_per_second,
        max_items=max_items,
        max_bytes=max_bytes,
        limits=limits,
        rate_limiter=rate_limiter,
    )
    return sync_endpoints(
        conn,
        contract,
        destination,
        run_id,
        logical_date,
        run_at=run_at,
        dry_run=dry_run,
        dry_run_url=dry_run_url(_lake(lake_url), logical_date) if dry_run else None,
        storage_options=storage_options,
        clock=clock,
        bulk=bulk,
    )


def export_segments(
    conn: duckdb.DuckDBPyConnection,
    manifest_path: str | Path,
    application_id: str,
    run_id: str,
    logical_date: date,
    *,
    lake_url: str | None = None,
    dry_run: bool = False,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    storage_options: dict[str, Any] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> list[SegmentExport]:
    """Write every segment model's members to the lake; return the non-empty exports to import.

    Empty segments write nothing and are recorded as skipped (no import call). With `dry_run=True`,
    no member file is written: the segment sizes and their change since the last accepted import go to
    `<lake>/exports/pinpoint/dry_run/<date>/segments_diff.{json,md}` and nothing is returned.
    """
    ensure_sync_schema(conn)
    lake = _lake(lake_url)
    destination = destination_name(application_id)
    segments = find_segment_models(load_manifest(manifest_path))
    exports: list[SegmentExport] = []
    if dry_run:
        sizes = []
        for segment in segments:
            id_column = '"' + segment.id_column.replace('"', '""') + '"'
            rows = conn.execute(
                f"select count(distinct {id_column}) from {segment.relation} where {id_column} is not null"
            ).fetchone()[0]
            previous = ledger.last_segment_rows(conn, destination, segment.model_name)
            sizes.append(
                {
                    "segment_model": segment.model_name,
                    "segment_name": segment.segment_name,
                    "members": rows,
                    "previous_members": previous,
                    "change": None if previous is None else rows - previous,
                    "segment_id": get_segment_id(conn, destination, segment.model_name),
                }
            )
        url = dry_run_url(lake, logical_date)
        fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        fs.makedirs(root, exist_ok=True)
        with fs.open(f"{root.rstrip('/')}/segments_diff.json", "wb") as handle:
            handle.write(json.dumps(sizes, indent=2).encode("utf-8"))
        lines = ["# Segment plan", "", "| segment | members | last imported | change |", "|---|---|---|---|"]
        lines += [
            f"| {s['segment_name']} ({s['segment_model']}) | {s['members']} | {s['previous_members']} | {s['change']} |"
            for s in sizes
        ]
        with fs.open(f"{root.rstrip('/')}/segments_diff.md", "wb") as handle:
            handle.write(("\n".join(lines) + "\n").encode("utf-8"))
        log.info("dry run: %d segments sized, plan written to %s, no file or API call", len(sizes), url)
        return []
    for segment in segments:
        export, rejected = write_segment_files(
            conn,
            segment,
            lake,
            logical_date,
            max_file_bytes=max_file_bytes,
            storage_options=storage_options,
        )
        if export.rows == 0:
            ledger.write_segment_item(
                conn,
                run_id,
                destination,
                segment.model_name,
                Outcome.SKIPPED.value,
                clock(),
                reason="empty segment: no file written, no import",
                rows=0,
            )
            continue
        if rejected:
            log.warning("segment %s: %d ids were not exportable", segment.model_name, rejected)
        exports.append(export)
    log.info("exported %d non-empty segments of %d", len(exports), len(segments))
    return exports


def _resolve_segment_id(
    conn: duckdb.DuckDBPyConnection, client: Any, application_id: str, segment_model: str
) -> tuple[str | None, str | None]:
    """The stored segment id, resolving it from the first import job if that job finished since.

    Returns (segment_id, blocking_job_id): a non-null `blocking_job_id` means the defining job is still
    running, so another import now would risk a second segment.
    """
    destination = destination_name(application_id)
    segment_id = get_segment_id(conn, destination, segment_model)
    if segment_id:
        return segment_id, None
    row = conn.execute(
        "select segment_name, first_job_id from ewh_sync.segment_registry where destination = ? and segment_model = ?",
        [destination, segment_model],
    ).fetchone()
    if not row or not row[1]:
        return None, None
    summary = get_import_job(client, application_id, row[1])
    if summary["job_status"] not in TERMINAL_STATES:
        return None, row[1]
    if summary["segment_id"]:
        record_segment_id(conn, destination, segment_model, row[0], summary["segment_id"], row[1])
        return summary["segment_id"], None
    # The defining job failed without creating a segment: define it again with a new job.
    conn.execute(
        "update ewh_sync.segment_registry set first_job_id = null where destination = ? and segment_model = ?",
        [destination, segment_model],
    )
    return None, None


def start_segment_import(
    conn: duckdb.DuckDBPyConnection,
    client: Any,
    application_id: str,
    role_arn: str,
    export: SegmentExport,
    run_id: str,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> SegmentImportHandle | None:
    """CreateImportJob for one exported segment; returns None when it must wait (defining job running).

    First import: `DefineSegment=True` + `SegmentName`; the registry remembers the job, and the segment
    id once known. Later imports: `SegmentId`, so reruns never multiply segments. A retry within the same
    run gets the job that run already started (unless it failed), so a segment is imported once per run.
    """
    destination = destination_name(application_id)
    started = ledger.started_segment_job(conn, run_id, destination, export.segment_model)
    if started is not None:
        job_id, segment_id = started
        log.info(
            "segment %s: this run already started import job %s; waiting for it instead of importing again",
            export.segment_model,
            job_id,
        )
        return SegmentImportHandle(export.segment_model, export.segment_name, job_id, segment_id, export.rows)
    segment_id, blocking_job = _resolve_segment_id(conn, client, application_id, export.segment_model)
    if blocking_job:
        reason = f"segment still being defined by import job {blocking_job}: not imported again"
        log.warning("segment %s: %s", export.segment_model, reason)
        ledger.write_segment_item(
            conn, run_id, destination, export.segment_model, Outcome.SKIPPED.value, clock(), reason=reason
        )
        return None
    handle = PinpointDestination(client, application_id, import_role_arn=role_arn).start_segment_import(
        export, segment_id
    )
    record_segment_id(conn, destination, export.segment_model, export.segment_name, handle.segment_id, handle.job_id)
    ledger.write_segment_item(
        conn,
        run_id,
        destination,
        export.segment_model,
        Outcome.STARTED.value,
        clock(),
        job_id=handle.job_id,
        segment_id=handle.segment_id,
        rows=export.rows,
        job_status="CREATED",
    )
    log.info(
        "segment %s: import job %s started (%s, %d members)",
        export.segment_model,
        handle.job_id,
        f"into segment {segment_id}" if segment_id else "defining the segment",
        export.rows,
    )
    return handle


def _duration(summary: dict[str, Any]) -> float | None:
    try:
        start = datetime.fromisoformat(str(summary["creation_date"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(summary["completion_date"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).total_seconds()


def record_segment_import_result(
    conn: duckdb.DuckDBPyConnection,
    application_id: str,
    run_id: str,
    segment_model: str,
    segment_name: str,
    summary: dict[str, Any],
    *,
    fail_on_row_failures: bool = False,
    clock: Callable[[], datetime] = utc_now,
) -> ItemOutcome:
    """Record a finished (or timed-out) import job: registry segment id and ledger outcome.

    `summary` is `jobs.summarize_import_job(...)` output or the trigger's event payload (it may carry
    `status: "timeout"`). COMPLETED with row failures is accepted with the first failures as the reason,
    or failed when `fail_on_row_failures` is set; FAILED and timeouts are failed.
    """
    destination = destination_name(application_id)
    status = summary.get("job_status")
    failures = summary.get("failures") or []
    total_failures = summary.get("total_failures") or 0
    if summary.get("segment_id"):
        record_segment_id(conn, destination, segment_model, segment_name, summary["segment_id"], summary.get("job_id"))
    if summary.get("status") == "timeout":
        outcome, reason = Outcome.FAILED, f"timed out while job was {status}"
    elif status == "COMPLETED" and total_failures:
        outcome = Outcome.FAILED if fail_on_row_failures else Outcome.ACCEPTED
        reason = f"{total_failures} rows failed, first: {'; '.join(failures[:3])}"
        log.warning("segment %s import completed with failures: %s", segment_model, reason)
    elif status == "COMPLETED":
        outcome, reason = Outcome.ACCEPTED, None
    else:
        outcome, reason = Outcome.FAILED, f"job {status}: {'; '.join(failures[:3]) or 'no failure listed'}"
    ledger.write_segment_item(
        conn,
        run_id,
        destination,
        segment_model,
        outcome.value,
        clock(),
        reason=reason,
        job_id=summary.get("job_id"),
        segment_id=summary.get("segment_id"),
        rows=None,  # keep the member count written when the job started
        job_status=status,
        duration_seconds=_duration(summary),
    )
    return ItemOutcome(segment_model, outcome, reason)


def import_segments(
    conn: duckdb.DuckDBPyConnection,
    client: Any,
    application_id: str,
    role_arn: str,
    exports: Sequence[SegmentExport],
    run_id: str,
    *,
    max_in_flight: int = 2,
    poll_interval: float = 5.0,
    timeout: float = 3600.0,
    fail_on_row_failures: bool = False,
    clock: Callable[[], datetime] = utc_now,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ItemOutcome]:
    """Start, poll and record every segment import, with at most `max_in_flight` jobs at once."""
    pending = list(exports)
    in_flight: dict[str, tuple[SegmentImportHandle, float]] = {}
    outcomes: list[ItemOutcome] = []
    while pending or in_flight:
        while pending and len(in_flight) < max_in_flight:
            export = pending.pop(0)
            try:
                handle = start_segment_import(conn, client, application_id, role_arn, export, run_id, clock=clock)
            except ClientError as error:  # after botocore's retries: record, go on with the next segment
                reason = f"CreateImportJob failed: {error}"
                log.warning("segment %s: %s", export.segment_model, reason)
                ledger.write_segment_item(
                    conn,
                    run_id,
                    destination_name(application_id),
                    export.segment_model,
                    Outcome.FAILED.value,
                    clock(),
                    reason=reason,
                    rows=export.rows,
                )
                outcomes.append(ItemOutcome(export.segment_model, Outcome.FAILED, reason))
                continue
            if handle is None:
                outcomes.append(ItemOutcome(export.segment_model, Outcome.SKIPPED, "defining job still running"))
            else:
                in_flight[handle.job_id] = (handle, monotonic())
        for job_id, (handle, started) in list(in_flight.items()):
            summary = get_import_job(client, application_id, job_id)
            timed_out = monotonic() - started > timeout
            if summary["job_status"] in TERMINAL_STATES or timed_out:
                if summary["job_status"] not in TERMINAL_STATES:
                    summary["status"] = "timeout"
                outcomes.append(
                    record_segment_import_result(
                        conn,
                        application_id,
                        run_id,
                        handle.segment_model,
                        handle.segment_name,
                        summary,
                        fail_on_row_failures=fail_on_row_failures,
                        clock=clock,
                    )
                )
                del in_flight[job_id]
        if in_flight:
            sleep(poll_interval)
    return outcomes
