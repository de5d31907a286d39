"""The generic endpoint sync: plan (diff) -> send through a `Destination` -> commit state per batch.

Destination-agnostic: a successor to Pinpoint only implements `destinations.base.Destination`.
Guarantees:

- only new or changed endpoints are sent (hash diff in the warehouse, see `state.py`);
- the synced state of a batch is committed right after the destination accepted it, before the next
  request, so a crash between batches loses nothing and repeats nothing;
- failed items are not committed and are therefore retried by the next run;
- a dry run writes the plan and a readable diff to the lake and calls nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import fsspec

from engagement_warehouse.destinations import ledger
from engagement_warehouse.destinations.base import BulkPath, BulkResult, Destination, ItemOutcome, Outcome
from engagement_warehouse.destinations.export_contract import ExportContract
from engagement_warehouse.destinations.state import (
    EndpointPlan,
    attribute_changes,
    build_endpoint_plan,
    commit_endpoint_state,
    commit_whole_plan_state,
    disappeared_endpoints_sql,
    ensure_sync_schema,
    iter_plan,
)

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The default ledger clock: naive UTC (the warehouse stores naive UTC timestamps)."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(slots=True)
class EndpointSyncResult:
    """What one endpoint sync did."""

    run_id: str
    destination: str
    dry_run: bool
    desired: int = 0
    planned: int = 0
    new: int = 0
    disappeared: int = 0
    sent: int = 0
    accepted: int = 0
    failed: int = 0
    refused: int = 0
    requests: int = 0
    seconds: float = 0.0
    status: str = "running"
    failures: list[ItemOutcome] = field(default_factory=list)  # the first few, for logs and reports
    dry_run_url: str | None = None

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for XCom and the run report)."""
        data = asdict(self)
        data["failures"] = [
            {"item_id": f.item_id, "outcome": f.outcome.value, "reason": f.reason} for f in self.failures
        ]
        data["requests_per_second"] = round(self.requests_per_second, 3)
        return data


def _write_dry_run(
    conn: duckdb.DuckDBPyConnection,
    plan: EndpointPlan,
    contract: ExportContract,
    destination: Destination,
    url: str,
    storage_options: dict[str, Any] | None,
) -> None:
    fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    fs.makedirs(root, exist_ok=True)
    with fs.open(f"{root}/planned_endpoints.jsonl", "wb") as handle:
        for record in iter_plan(conn, plan):
            line = json.dumps(destination.plan_payload(record), sort_keys=True, ensure_ascii=False)
            handle.write((line + "\n").encode("utf-8"))
    changes = attribute_changes(conn, plan, contract.paths)
    summary = {
        "destination": plan.destination,
        "endpoints_desired": plan.desired,
        "endpoints_planned": plan.changed,
        "endpoints_new": plan.new,
        "endpoints_disappeared": plan.disappeared,
        "attributes": changes,
    }
    with fs.open(f"{root}/endpoints_diff.json", "wb") as handle:
        handle.write(json.dumps(summary, indent=2, sort_keys=True).encode("utf-8"))
    lines = [
        f"# Endpoint sync plan for {plan.destination}",
        "",
        f"- endpoints in the export model: {plan.desired}",
        f"- endpoints to send: {plan.changed} ({plan.new} new)",
        f"- endpoints gone upstream (kept in the destination): {plan.disappeared}",
        "",
        "| attribute | endpoints changing | top changes (from -> to: endpoints) |",
        "|---|---|---|",
    ]
    for change in changes:
        top = "; ".join(
            f"{json.dumps(c['from'])} -> {json.dumps(c['to'])}: {c['endpoints']}" for c in change["top_changes"]
        )
        escaped = top.replace("|", "\\|")
        lines.append(f"| {change['path']} | {change['endpoints_changed']} | {escaped} |")
    with fs.open(f"{root}/endpoints_diff.md", "wb") as handle:
        handle.write(("\n".join(lines) + "\n").encode("utf-8"))


def _send_plan(
    conn: duckdb.DuckDBPyConnection,
    plan: EndpointPlan,
    destination: Destination,
    run: ledger.SyncRun,
    result: EndpointSyncResult,
    run_id: str,
    synced_at: datetime,
    clock: Callable[[], datetime],
    max_failures_kept: int,
) -> None:
    """Send the plan batch by batch, committing state and ledger rows after each batch."""
    for batch in destination.write_endpoints(iter_plan(conn, plan)):
        attempt_at = clock()
        accepted = batch.accepted_ids
        failed = batch.failed
        conn.execute("begin transaction")
        try:
            commit_endpoint_state(conn, plan, accepted, synced_at, run_id)
            ledger.write_endpoint_items(conn, run_id, destination.name, batch.outcomes, attempt_at)
            conn.execute("commit")
        except BaseException:
            conn.execute("rollback")
            raise
        result.requests += batch.requests
        if batch.requests:
            result.sent += len(batch.outcomes)
        else:
            result.refused += len(failed)
        result.accepted += len(accepted)
        result.failed += len(failed)
        result.failures.extend(failed[: max(0, max_failures_kept - len(result.failures))])
        if batch.requests:
            log.info(
                "batch %d: %d sent, %d accepted, %d failed (total %d/%d accepted)",
                result.requests,
                len(batch.outcomes),
                len(accepted),
                len(failed),
                result.accepted,
                plan.changed,
            )
        else:
            for item in failed:
                log.warning("endpoint %s refused before sending: %s", item.item_id, item.reason)
        run.endpoints_sent, run.endpoints_accepted, run.endpoints_failed = (
            result.sent,
            result.accepted,
            result.failed,
        )
        ledger.write_run(conn, run)


def _record_bulk(
    conn: duckdb.DuckDBPyConnection,
    plan: EndpointPlan,
    destination: Destination,
    outcome: BulkResult,
    result: EndpointSyncResult,
    run_id: str,
    synced_at: datetime,
    attempt_at: datetime,
) -> None:
    """Commit a bulk load: state for every sent item only if the destination accepted the whole load."""
    refused_ids = [item.item_id for item in outcome.refused]
    sent = plan.changed - len(set(refused_ids))
    conn.execute("begin transaction")
    try:
        ledger.write_endpoint_items(conn, run_id, destination.name, outcome.refused, attempt_at)
        if outcome.accepted:
            commit_whole_plan_state(conn, plan, synced_at, run_id, exclude_ids=refused_ids)
        ledger.write_plan_items(
            conn,
            run_id,
            destination.name,
            plan.table,
            Outcome.ACCEPTED.value if outcome.accepted else Outcome.FAILED.value,
            outcome.reason,
            attempt_at,
            exclude_ids=refused_ids,
        )
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    result.requests += outcome.requests
    result.sent += sent
    result.refused += len(refused_ids)
    result.accepted += sent if outcome.accepted else 0
    result.failed += len(refused_ids) + (0 if outcome.accepted else sent)
    result.failures.extend(outcome.refused[:20])
    if not outcome.accepted and outcome.reason:
        result.failures.append(ItemOutcome("*bulk*", Outcome.FAILED, outcome.reason))


def sync_endpoints(
    conn: duckdb.DuckDBPyConnection,
    contract: ExportContract,
    destination: Destination,
    run_id: str,
    logical_date: date,
    *,
    run_at: datetime | None = None,
    dry_run: bool = False,
    dry_run_url: str | None = None,
    storage_options: dict[str, Any] | None = None,
    clock: Callable[[], datetime] = utc_now,
    max_failures_kept: int = 20,
    bulk: BulkPath | None = None,
) -> EndpointSyncResult:
    """Send the new or changed endpoints of `contract` to `destination` and record everything.

    `run_at` (default: midnight of `logical_date`) is the run's clock written as `synced_at` in the
    state table, so a rerun of the same logical date writes identical state. `clock` gives the actual
    event times written to the ledger (started/finished/attempt times). With `bulk`, a plan larger than
    `bulk.threshold` endpoints is loaded in one go (state committed only if the whole load was accepted);
    if the bulk path declines, the batches are used.
    """
    ensure_sync_schema(conn)
    synced_at = run_at or datetime(logical_date.year, logical_date.month, logical_date.day)
    run = ledger.SyncRun(run_id, destination.name, "endpoints", logical_date, clock(), dry_run)
    ledger.write_run(conn, run)
    result = EndpointSyncResult(run_id=run_id, destination=destination.name, dry_run=dry_run)
    plan = build_endpoint_plan(conn, contract, destination.name)
    result.desired, result.planned, result.new, result.disappeared = (
        plan.desired,
        plan.changed,
        plan.new,
        plan.disappeared,
    )
    run.endpoints_planned = plan.changed
    if plan.disappeared:
        ledger.write_disappeared_endpoints(conn, run_id, destination.name, disappeared_endpoints_sql(contract), clock())

    if dry_run:
        if dry_run_url is None:
            raise ValueError("dry_run=True needs dry_run_url")
        _write_dry_run(conn, plan, contract, destination, dry_run_url, storage_options)
        result.status = run.status = "dry_run"
        result.dry_run_url = dry_run_url
        run.finished_at = clock()
        ledger.write_run(conn, run)
        log.info("dry run: %d endpoints planned, plan written to %s, no API call", plan.changed, dry_run_url)
        return result

    started = time.monotonic()
    try:
        bulk_outcome = None
        if bulk is not None and plan.changed > bulk.threshold:
            log.info("%d endpoints planned (> %d): trying the bulk path", plan.changed, bulk.threshold)
            bulk_outcome = bulk.load(iter_plan(conn, plan))
        if bulk_outcome is not None:
            _record_bulk(conn, plan, destination, bulk_outcome, result, run_id, synced_at, clock())
        else:
            _send_plan(conn, plan, destination, run, result, run_id, synced_at, clock, max_failures_kept)
    except BaseException:
        # Batches before the error are committed; record the run as errored and let the task fail.
        result.status = run.status = "error"
        run.finished_at = clock()
        ledger.write_run(conn, run)
        raise
    result.seconds = time.monotonic() - started
    if result.failed == 0:
        result.status = "succeeded"
    elif result.accepted:
        result.status = "partial"
    else:
        result.status = "failed"
    run.status = result.status
    # The run's row counts every attempt: endpoints an earlier attempt of this run had accepted (before a crash)
    # are no longer in this attempt's plan, but they were planned, sent and accepted by this run.
    earlier = ledger.accepted_endpoint_count(conn, run_id, destination.name) - result.accepted
    run.endpoints_planned = plan.changed + earlier
    run.endpoints_sent, run.endpoints_accepted, run.endpoints_failed = (
        result.sent + earlier,
        result.accepted + earlier,
        result.failed,
    )
    run.finished_at = clock()
    ledger.write_run(conn, run)
    if earlier:
        log.info("endpoint sync: %d more endpoints were accepted by an earlier attempt of this run", earlier)
    log.info(
        "endpoint sync %s: %d planned, %d sent in %d requests (%.2f req/s), %d accepted, %d failed "
        "(%d refused before sending), %d disappeared upstream",
        result.status,
        result.planned,
        result.sent,
        result.requests,
        result.requests_per_second,
        result.accepted,
        result.failed,
        result.refused,
        result.disappeared,
    )
    return result


__all__ = ["EndpointSyncResult", "Outcome", "sync_endpoints", "utc_now"]
