"""The export benchmark (issue 6): diff time and memory, requests per changed endpoint, achieved rate.

`run_export_bench` is called by `make bench` (bench/run.py, stage `export`) and can be run alone:

    .venv/bin/python -m engagement_warehouse.destinations.bench --endpoints 1000000 --changed 0.01

What it does, in a scratch DuckDB under `workdir` (never the project's warehouse):

1. builds an export model of `n_endpoints` rows with the columns and Pinpoint paths of the real
   `endpoint_segment_attributes` (ids, address, channel, opt-out, user id, user attributes incl. a
   multi-valued one, metrics);
2. times the first diff (empty sync state: everything is new), then records every endpoint as synced
   (`commit_whole_plan_state`, as after a complete first sync);
3. changes `changed_fraction` of the endpoints and times the diff again: the daily case;
4. sends the changed endpoints with the real sync (`sync_endpoints` + `PinpointDestination` + a boto3
   client with botocore retries) to an in-process `SandboxServer`, paced at `rate_per_second`. At 2
   requests/s, 10 000 changed endpoints take ~50 s, so the send stops after `max_requests` requests
   (None: send all); the batches sent are committed as usual and the rest is then recorded as synced;
5. runs the sync once more with nothing changed and counts the calls (must be 0), both from our side and
   in the sandbox's request log.

Figures: `diff_seconds` (step 3), `initial_diff_seconds` (step 2), `peak_rss_mb` (the process's high-water
mark, ru_maxrss), `requests_per_changed_endpoint`, `achieved_rate` vs `rate_per_second` (requests per second
between the first and the last request start, i.e. the pacing actually sustained), and
`calls_when_unchanged`.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import boto3
import duckdb

from engagement_warehouse.destinations.export_contract import ExportColumn, ExportContract
from engagement_warehouse.destinations.pinpoint.client import make_pinpoint_client
from engagement_warehouse.destinations.pinpoint.destination import PinpointDestination
from engagement_warehouse.destinations.pinpoint.sync import destination_name
from engagement_warehouse.destinations.state import build_endpoint_plan, commit_whole_plan_state, ensure_sync_schema
from engagement_warehouse.destinations.sync import sync_endpoints

APP_ID = "ewh-bench-app"
LOGICAL_DATE = date(2026, 11, 23)
RELATION = "bench.endpoint_segment_attributes"
DEFAULT_ENDPOINTS = 1_000_000  # the figure
SMOKE_USERS = 100
SMOKE_ENDPOINTS = 20_000

# The real export model's mapping (dbt_project/models/marts/_marts.yml), minus nothing that matters here.
CONTRACT = ExportContract(
    unique_id="model.engagement_warehouse.endpoint_segment_attributes",
    relation=RELATION,
    id_column="endpoint_id",
    columns=(
        ExportColumn("channel_type", "ChannelType"),
        ExportColumn("address", "Address"),
        ExportColumn("opt_out", "OptOut"),
        ExportColumn("user_id", "User.UserId"),
        ExportColumn("lifecycle_stage", "User.UserAttributes.LifecycleStage"),
        ExportColumn("clv_tier", "User.UserAttributes.ClvTier"),
        ExportColumn("usage_tier", "User.UserAttributes.UsageTier"),
        ExportColumn("preferred_category", "User.UserAttributes.PreferredCategory"),
        ExportColumn("recommended_items", "User.UserAttributes.RecommendedItems", multi_value_separator="|"),
        ExportColumn("loyalty_tier", "User.UserAttributes.LoyaltyTier"),
        ExportColumn("lifetime_orders", "Metrics.LifetimeOrders"),
        ExportColumn("lifetime_revenue", "Metrics.LifetimeRevenue"),
        ExportColumn("days_since_last_order", "Metrics.DaysSinceLastOrder"),
    ),
)


class _SendLimitReached(Exception):
    """Raised by `_CountingClient` to end a limited send (not a ClientError: the sync does not catch it)."""


class _CountingClient:
    """Wraps a boto3 Pinpoint client: stamps each UpdateEndpointsBatch start, stops after `limit` calls."""

    def __init__(self, client: Any, limit: int | None) -> None:
        self._client = client
        self._limit = limit
        self.starts: list[float] = []

    def update_endpoints_batch(self, **kwargs: Any) -> dict[str, Any]:
        if self._limit is not None and len(self.starts) >= self._limit:
            raise _SendLimitReached
        self.starts.append(time.perf_counter())
        return self._client.update_endpoints_batch(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (ru_maxrss is KB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def build_export_model(conn: duckdb.DuckDBPyConnection, n_endpoints: int) -> None:
    """Create `bench.endpoint_segment_attributes` with `n_endpoints` deterministic rows."""
    conn.execute("create schema if not exists bench")
    conn.execute(
        f"""
        create or replace table {RELATION} as
        select
            'ep-' || lpad(cast(i as varchar), 9, '0') as endpoint_id,
            'EMAIL' as channel_type,
            'user' || i || '@example.com' as address,
            case when i % 17 = 0 then 'ALL' else 'NONE' end as opt_out,
            'u-' || i as user_id,
            ['new', 'active', 'at_risk', 'lapsed'][1 + i % 4] as lifecycle_stage,
            ['low', 'mid', 'high'][1 + i % 3] as clv_tier,
            ['light', 'regular', 'heavy'][1 + (i // 3) % 3] as usage_tier,
            ['books', 'garden', 'kitchen', 'sports', 'toys'][1 + i % 5] as preferred_category,
            'sku-' || (i % 997) || '|sku-' || (i % 991) || '|sku-' || (i % 983) as recommended_items,
            ['bronze', 'silver', 'gold'][1 + (i // 7) % 3] as loyalty_tier,
            cast(i % 50 as bigint) as lifetime_orders,
            round((i % 10000) * 1.37, 2) as lifetime_revenue,
            cast(i % 365 as bigint) as days_since_last_order
        from range({int(n_endpoints)}) t(i)
        """
    )


def change_endpoints(conn: duckdb.DuckDBPyConnection, fraction: float) -> None:
    """Change one attribute of about `fraction` of the endpoints (chosen by a hash of the id)."""
    cutoff = round(fraction * 1_000_000)
    conn.execute(
        f"""update {RELATION} set loyalty_tier = 'platinum', lifetime_orders = lifetime_orders + 1
            where hash(endpoint_id) % 1000000 < {cutoff}"""
    )


def run_export_bench(
    n_endpoints: int | None = None,
    changed_fraction: float = 0.01,
    rate_per_second: float = 2.0,
    workdir: Path | None = None,
    *,
    max_requests: int | None = 20,
    max_attempts: int = 5,
    users: int | None = None,
    memory_limit: str | None = None,
) -> dict[str, Any]:
    """Run the export benchmark (see the module docstring) and return its figures.

    Defaults fit `make bench` (which passes `workdir` and `users` only): the issue's 1M endpoints, 1 %
    changed, the real quota of 2 requests/s, and a send limited to 20 requests (~10 s). With
    `users < SMOKE_USERS` (the harness's hidden `tiny` scale, run by the test suite) and no explicit
    `n_endpoints`, a smoke-sized model of `SMOKE_ENDPOINTS` endpoints and 2 requests is used instead.
    `workdir` defaults to a temporary folder. `memory_limit` (e.g. "512MB") caps DuckDB's memory, to check
    that the diff spills instead of growing with the data (DuckDB's default is 80 % of RAM).
    """
    if n_endpoints is None:
        smoke = users is not None and users < SMOKE_USERS
        n_endpoints = SMOKE_ENDPOINTS if smoke else DEFAULT_ENDPOINTS
        if smoke and max_requests is not None:
            max_requests = min(max_requests, 2)
    if not 0.0 <= changed_fraction <= 1.0:
        raise ValueError("changed_fraction must be between 0 and 1")
    from engagement_warehouse.sandbox import SandboxServer

    workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="ewh-export-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in (
        "export_bench.duckdb",
        "export_bench.duckdb.wal",
        "pinpoint.db",
        "pinpoint.db-wal",
        "pinpoint.db-shm",
    ):
        (workdir / stale).unlink(missing_ok=True)
    figures: dict[str, Any] = {
        "n_endpoints": n_endpoints,
        "changed_fraction": changed_fraction,
        "rate_per_second": rate_per_second,
        "max_requests": max_requests,
        "memory_limit": memory_limit,
    }
    destination = destination_name(APP_ID)
    synced_at = datetime(LOGICAL_DATE.year, LOGICAL_DATE.month, LOGICAL_DATE.day)
    conn = duckdb.connect(str(workdir / "export_bench.duckdb"))
    try:
        if memory_limit:
            conn.execute(f"set memory_limit = '{memory_limit}'")
        ensure_sync_schema(conn)
        started = time.perf_counter()
        build_export_model(conn, n_endpoints)
        figures["build_seconds"] = time.perf_counter() - started

        started = time.perf_counter()
        first = build_endpoint_plan(conn, CONTRACT, destination)
        figures["initial_diff_seconds"] = time.perf_counter() - started
        figures["peak_rss_mb_after_initial_diff"] = peak_rss_mb()
        started = time.perf_counter()
        commit_whole_plan_state(conn, first, synced_at, "bench-initial")
        figures["initial_commit_seconds"] = time.perf_counter() - started
        figures["peak_rss_mb_after_initial_commit"] = peak_rss_mb()

        change_endpoints(conn, changed_fraction)
        started = time.perf_counter()
        plan = build_endpoint_plan(conn, CONTRACT, destination)
        figures["diff_seconds"] = time.perf_counter() - started
        figures["desired"], figures["changed"] = plan.desired, plan.changed
        figures["peak_rss_mb_after_diff"] = peak_rss_mb()

        session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")
        with SandboxServer(workdir / "pinpoint.db", "127.0.0.1", port=0) as sandbox:
            raw = make_pinpoint_client(sandbox.endpoint_url, "us-east-1", session=session, max_attempts=max_attempts)
            client = _CountingClient(raw, max_requests)
            pinpoint = PinpointDestination(client, APP_ID, rate_per_second=rate_per_second)
            started = time.perf_counter()
            try:
                sent = sync_endpoints(conn, CONTRACT, pinpoint, "bench-changed", LOGICAL_DATE, run_at=synced_at)
                accepted, limited = sent.accepted, False
            except _SendLimitReached:
                limited = True
                accepted = conn.execute(
                    "select count(*) from ewh_sync.endpoint_state where run_id = 'bench-changed'"
                ).fetchone()[0]
            figures["sync_seconds"] = time.perf_counter() - started
            starts = client.starts
            figures["sync_limited"] = limited
            figures["requests"] = len(starts)
            figures["endpoints_accepted"] = accepted
            figures["sandbox_accepted_requests"] = sandbox.store.call_count("UpdateEndpointsBatch", status=202)
            figures["requests_per_changed_endpoint"] = len(starts) / accepted if accepted else None
            achieved = (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 else None
            figures["achieved_rate"] = achieved
            figures["calls_per_second"] = achieved
            figures["achieved_rate_fraction_of_quota"] = achieved / rate_per_second if achieved else None

            if limited:  # record the rest as synced, as if the send had run to the end
                rest = build_endpoint_plan(conn, CONTRACT, destination)
                commit_whole_plan_state(conn, rest, synced_at, "bench-changed")
            calls_before = sandbox.store.call_count()
            unchanged = sync_endpoints(conn, CONTRACT, pinpoint, "bench-unchanged", LOGICAL_DATE, run_at=synced_at)
            figures["calls_when_unchanged"] = unchanged.requests
            figures["sandbox_calls_when_unchanged"] = sandbox.store.call_count() - calls_before
            figures["planned_when_unchanged"] = unchanged.planned
    finally:
        conn.close()
    figures["peak_rss_mb"] = peak_rss_mb()
    return figures


def main(argv: list[str] | None = None) -> int:
    """CLI: run the benchmark and print its figures as JSON."""
    parser = argparse.ArgumentParser(description="Export benchmark against the local Pinpoint sandbox.")
    parser.add_argument("--endpoints", type=int, default=DEFAULT_ENDPOINTS)
    parser.add_argument("--changed", type=float, default=0.01, help="fraction of endpoints changed")
    parser.add_argument("--rate", type=float, default=2.0, help="requests per second (the quota)")
    parser.add_argument("--max-requests", type=int, default=20, help="stop the send after N requests (0: no limit)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 512MB")
    args = parser.parse_args(argv)
    figures = run_export_bench(
        args.endpoints,
        args.changed,
        args.rate,
        args.workdir,
        max_requests=args.max_requests or None,
        memory_limit=args.memory_limit,
    )
    print(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
