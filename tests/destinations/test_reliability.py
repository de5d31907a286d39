"""Reliability of the Pinpoint export against the real sandbox with fault injection.

Every test checks the two properties the export promises, by reading the sandbox and `ewh_sync`:

- zero lost: every valid endpoint of the export model is in the sandbox with its current values, and
  its state row is committed;
- zero duplicated: the items of all accepted (HTTP 202) UpdateEndpointsBatch requests, as logged by
  the sandbox, add up to exactly the number of endpoint changes: combined with "every endpoint arrived",
  each change was delivered exactly once.

Data is tiny and batches small (`max_items`), botocore's retries are capped with `max_attempts`, and the
client-side rate limiter runs at 1000 requests/s, so the whole module runs in seconds.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from engagement_warehouse.destinations.base import Outcome
from engagement_warehouse.destinations.pinpoint.client import make_pinpoint_client
from engagement_warehouse.destinations.pinpoint.sync import (
    destination_name,
    export_segments,
    import_segments,
    sync_endpoint_attributes,
)
from engagement_warehouse.destinations.sync import EndpointSyncResult

from .conftest import APP_ID, LOGICAL_DATE, ROLE_ARN, create_warehouse

sandbox = pytest.importorskip("engagement_warehouse.sandbox")

FIXED = datetime(2026, 11, 23, 6, 0, 0)
N_ENDPOINTS = 12
BATCH = 2  # items per request: 6 requests for a full sync


def rows(n: int = N_ENDPOINTS, tier: str = "gold") -> list[tuple]:
    return [
        (f"ep-{i:03d}", f"u{i}@example.com", "EMAIL", "NONE", f"u-{i}", tier, "a|b", float(i), None) for i in range(n)
    ]


@pytest.fixture
def conn(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    create_warehouse(connection, rows())
    yield connection
    connection.close()


@pytest.fixture
def server(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with sandbox.SandboxServer(tmp_path / "pinpoint.db", "127.0.0.1", port=0, job_step_seconds=0.0) as running:
        yield running


def client_for(server, retry_mode: str = "standard", max_attempts: int = 1) -> Any:
    return make_pinpoint_client(server.endpoint_url, "us-east-1", retry_mode=retry_mode, max_attempts=max_attempts)


def sync(conn, manifest_path, client, run_id: str) -> EndpointSyncResult:
    return sync_endpoint_attributes(
        conn,
        manifest_path,
        client,
        APP_ID,
        run_id,
        LOGICAL_DATE,
        rate_per_second=1000.0,
        max_items=BATCH,
        clock=lambda: FIXED,
    )


def delivered_items(server) -> int:
    """Endpoint items in accepted UpdateEndpointsBatch requests, from the sandbox's request log."""
    return sum(row["item_count"] or 0 for row in server.store.calls("UpdateEndpointsBatch") if row["status"] == 202)


def assert_all_delivered_once(conn, server, expected_deliveries: int) -> None:
    """Zero lost (sandbox and state hold every endpoint's current values) and zero duplicated."""
    desired = {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            "select endpoint_id, address, loyalty_tier from marts.endpoint_segment_attributes"
        ).fetchall()
    }
    for endpoint_id, (address, tier) in desired.items():
        endpoint = server.store.endpoint(APP_ID, endpoint_id)
        assert endpoint is not None, f"{endpoint_id} lost"
        assert endpoint["Address"] == address
        stored = endpoint.get("Attributes", {}).get("loyalty_tier")
        assert stored == [tier] if tier else not stored
    state = {
        row[0]
        for row in conn.execute(
            "select endpoint_id from ewh_sync.endpoint_state where destination = ?", [destination_name(APP_ID)]
        ).fetchall()
    }
    assert set(desired) <= state, "state not committed for some accepted endpoints"
    assert delivered_items(server) == expected_deliveries, "an update was sent twice (or lost)"


@pytest.mark.parametrize("retry_mode", ["standard", "adaptive"])
def test_429_storm_is_absorbed_by_botocore_retries(conn, manifest_path, server, retry_mode):
    # 5 requests/s with a bucket of one while we fire at 1000/s: most requests are throttled at least once.
    server.set_faults({"throttle": {"UpdateEndpointsBatch": 5.0}, "throttle_burst": 1})
    result = sync(conn, manifest_path, client_for(server, retry_mode, max_attempts=10), "run-1")
    assert (result.accepted, result.failed, result.requests) == (N_ENDPOINTS, 0, N_ENDPOINTS // BATCH)
    assert server.store.call_count("UpdateEndpointsBatch", status=429) >= 1  # the storm happened
    assert_all_delivered_once(conn, server, N_ENDPOINTS)


def test_429_storm_beyond_retries_fails_batches_that_the_next_run_sends(conn, manifest_path, server):
    server.set_faults({"throttle": {"UpdateEndpointsBatch": 0.5}, "throttle_burst": 2})
    first = sync(conn, manifest_path, client_for(server, "standard", max_attempts=1), "run-1")
    assert first.accepted == 2 * BATCH and first.failed == N_ENDPOINTS - 2 * BATCH
    assert first.status == "partial"
    failed = conn.execute(
        "select count(*) from ewh_sync.sync_items where run_id = 'run-1' and outcome = 'failed'"
        " and reason like 'TooManyRequestsException%'"
    ).fetchone()[0]
    assert failed == first.failed
    server.set_faults({})
    second = sync(conn, manifest_path, client_for(server), "run-2")
    assert (second.planned, second.accepted, second.failed) == (first.failed, first.failed, 0)
    assert_all_delivered_once(conn, server, N_ENDPOINTS)


def test_5xx_bursts_and_random_errors(conn, manifest_path, server):
    server.set_faults(
        {"error_burst": 2, "error_rate": 0.5, "seed": 7, "error_status": 503, "operations": ["UpdateEndpointsBatch"]}
    )
    first = sync(conn, manifest_path, client_for(server, "standard", max_attempts=2), "run-1")
    assert server.store.call_count("UpdateEndpointsBatch", status=503) >= 3
    assert first.failed > 0 and first.accepted > 0  # seed 7: some batches survive their retry, some do not
    server.set_faults({})
    second = sync(conn, manifest_path, client_for(server), "run-2")
    assert (second.planned, second.failed) == (first.failed, 0)
    assert_all_delivered_once(conn, server, N_ENDPOINTS)


class Killed(Exception):
    """Stands for the worker process dying (not a ClientError: nothing catches it)."""


class KillAfter:
    """A boto3 client proxy whose UpdateEndpointsBatch 'kills the process' after `k` successful calls."""

    def __init__(self, client: Any, k: int) -> None:
        self._client = client
        self._left = k

    def update_endpoints_batch(self, **kwargs: Any) -> dict[str, Any]:
        if self._left == 0:
            raise Killed("worker killed between batches")
        self._left -= 1
        return self._client.update_endpoints_batch(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.mark.parametrize("k", [0, 1, 4])
def test_killed_after_k_batches_then_rerun_sends_only_the_rest(conn, manifest_path, server, k):
    client = client_for(server)
    with pytest.raises(Killed):
        sync(conn, manifest_path, KillAfter(client, k), "run-1")
    assert delivered_items(server) == k * BATCH
    assert conn.execute("select count(*) from ewh_sync.endpoint_state").fetchone()[0] == k * BATCH
    assert conn.execute("select status from ewh_sync.sync_runs where run_id = 'run-1'").fetchone()[0] == "error"

    rerun = sync(conn, manifest_path, client, "run-2")
    assert (rerun.planned, rerun.accepted, rerun.failed) == (N_ENDPOINTS - k * BATCH,) * 2 + (0,)
    assert_all_delivered_once(conn, server, N_ENDPOINTS)


def test_crash_inside_the_sandbox_after_k_batches_then_rerun(conn, manifest_path, server):
    server.set_faults({"fail_batches_after": 2})
    first = sync(conn, manifest_path, client_for(server), "run-1")
    assert (first.accepted, first.failed) == (2 * BATCH, N_ENDPOINTS - 2 * BATCH)
    server.set_faults({})
    rerun = sync(conn, manifest_path, client_for(server), "run-2")
    assert rerun.planned == N_ENDPOINTS - 2 * BATCH
    assert_all_delivered_once(conn, server, N_ENDPOINTS)


def test_a_retried_run_records_every_attempt_in_its_run_row(conn, manifest_path, server):
    """A task killed between batches and retried under the same run id: the run's row counts both attempts."""
    server.set_faults({"fail_batches_after": 2})
    sync(conn, manifest_path, client_for(server), "run-1")
    server.set_faults({})
    retry = sync(conn, manifest_path, client_for(server), "run-1")
    assert retry.planned == N_ENDPOINTS - 2 * BATCH
    row = conn.execute(
        "select endpoints_planned, endpoints_sent, endpoints_accepted, endpoints_failed, status "
        "from ewh_sync.sync_runs where run_id = 'run-1' and step = 'endpoints'"
    ).fetchone()
    assert row == (N_ENDPOINTS, N_ENDPOINTS, N_ENDPOINTS, 0, "succeeded")
    assert_all_delivered_once(conn, server, N_ENDPOINTS)


def members_table(conn, ids: list[str]) -> None:
    values = ", ".join(f"('{i}')" for i in ids)
    conn.execute(f"create or replace table segments.seg_gold_members as select * from (values {values}) t(endpoint_id)")


def run_segments(conn, manifest_path, client, run_id: str, lake: str, **kwargs: Any):
    exports = export_segments(conn, manifest_path, APP_ID, run_id, LOGICAL_DATE, lake_url=lake, clock=lambda: FIXED)
    return import_segments(conn, client, APP_ID, ROLE_ARN, exports, run_id, poll_interval=0.01, timeout=30, **kwargs)


def test_import_job_failed_then_retried_on_next_run(conn, manifest_path, server, tmp_path: Path):
    client = client_for(server)
    lake = (tmp_path / "lake").as_uri()
    sync(conn, manifest_path, client, "run-0")
    members_table(conn, ["ep-000", "ep-001"])

    server.set_faults({"import_outcome": "failed"})
    (failed,) = run_segments(conn, manifest_path, client, "run-1", lake)
    assert failed.outcome is Outcome.FAILED and "FAILED" in failed.reason
    assert server.store.segments(APP_ID) == []  # a failed defining job creates nothing

    server.set_faults({})
    (retried,) = run_segments(conn, manifest_path, client, "run-2", lake)
    assert retried.outcome is Outcome.ACCEPTED
    (segment,) = server.store.segments(APP_ID)
    assert server.store.segment_members(APP_ID, segment["Id"]) == ["ep-000", "ep-001"]

    # A failed re-import keeps the segment (and its members) and the next run imports into the same id.
    members_table(conn, ["ep-000", "ep-002", "ep-003"])
    server.set_faults({"import_outcome": "failed"})
    (failed_again,) = run_segments(conn, manifest_path, client, "run-3", lake)
    assert failed_again.outcome is Outcome.FAILED
    assert server.store.segment_members(APP_ID, segment["Id"]) == ["ep-000", "ep-001"]
    server.set_faults({})
    (ok,) = run_segments(conn, manifest_path, client, "run-4", lake)
    assert ok.outcome is Outcome.ACCEPTED
    assert [s["Id"] for s in server.store.segments(APP_ID)] == [segment["Id"]]  # never a second segment
    assert server.store.segment_members(APP_ID, segment["Id"]) == ["ep-000", "ep-002", "ep-003"]
    outcomes = conn.execute(
        "select run_id, outcome from ewh_sync.sync_items where item_id = 'seg_gold_members' order by run_id"
    ).fetchall()
    assert outcomes == [("run-1", "failed"), ("run-2", "accepted"), ("run-3", "failed"), ("run-4", "accepted")]


@pytest.mark.parametrize("fail_on_row_failures", [False, True])
def test_import_completed_with_failures_is_surfaced(conn, manifest_path, server, tmp_path: Path, fail_on_row_failures):
    client = client_for(server)
    sync(conn, manifest_path, client, "run-0")
    members_table(conn, ["ep-000", "ep-001", "ep-002"])
    server.set_faults({"import_outcome": "completed_with_failures", "import_failed_rows": 1})
    (outcome,) = run_segments(
        conn,
        manifest_path,
        client,
        "run-1",
        (tmp_path / "lake").as_uri(),
        fail_on_row_failures=fail_on_row_failures,
    )
    assert outcome.outcome is (Outcome.FAILED if fail_on_row_failures else Outcome.ACCEPTED)
    row = conn.execute(
        "select outcome, reason, job_status, rows from ewh_sync.sync_items where item_id = 'seg_gold_members'"
    ).fetchone()
    assert row[0] == outcome.outcome.value
    assert row[1].startswith("1 rows failed, first: ") and len(row[1]) > len("1 rows failed, first: ")
    assert (row[2], row[3]) == ("COMPLETED", 3)
    (segment,) = server.store.segments(APP_ID)
    assert len(server.store.segment_members(APP_ID, segment["Id"])) == 2  # the failed row is really missing


def test_rerun_of_the_same_logical_date_sends_nothing_and_reuses_the_segment(
    conn, manifest_path, server, tmp_path: Path
):
    client = client_for(server)
    lake = (tmp_path / "lake").as_uri()
    members_table(conn, ["ep-000", "ep-005"])
    first = sync(conn, manifest_path, client, "scheduled__2026-11-23")
    run_segments(conn, manifest_path, client, "scheduled__2026-11-23", lake)
    state_before = conn.execute("select * from ewh_sync.endpoint_state order by endpoint_id").fetchall()
    (segment,) = server.store.segments(APP_ID)

    for run_id in ("scheduled__2026-11-23", "manual__2026-11-23"):  # task retry, then a manual rerun
        again = sync(conn, manifest_path, client, run_id)
        assert (again.planned, again.requests) == (0, 0)
        (outcome,) = run_segments(conn, manifest_path, client, run_id, lake)
        assert outcome.outcome is Outcome.ACCEPTED
    assert first.accepted == N_ENDPOINTS
    assert server.store.call_count("UpdateEndpointsBatch") == N_ENDPOINTS // BATCH
    assert conn.execute("select * from ewh_sync.endpoint_state order by endpoint_id").fetchall() == state_before
    assert [s["Id"] for s in server.store.segments(APP_ID)] == [segment["Id"]]
    jobs = server.store.import_jobs(APP_ID)
    # The retry of the same run waits on the job that run started; the manual rerun imports into the segment.
    assert [j["Definition"].get("SegmentId") for j in jobs[1:]] == [segment["Id"]]
    assert_all_delivered_once(conn, server, N_ENDPOINTS)


def test_endpoint_deleted_upstream_is_recorded_not_sent(conn, manifest_path, server):
    client = client_for(server)
    sync(conn, manifest_path, client, "run-1")
    conn.execute("delete from marts.endpoint_segment_attributes where endpoint_id = 'ep-003'")
    conn.execute("update marts.endpoint_segment_attributes set loyalty_tier = 'silver' where endpoint_id = 'ep-004'")
    second = sync(conn, manifest_path, client, "run-2")
    assert (second.disappeared, second.planned, second.accepted, second.failed) == (1, 1, 1, 0)
    assert second.status == "succeeded"
    skipped = conn.execute(
        "select item_id, outcome, reason from ewh_sync.sync_items where run_id = 'run-2' and item_id = 'ep-003'"
    ).fetchone()
    assert skipped[:2] == ("ep-003", "skipped") and skipped[2].startswith("disappeared upstream")
    assert server.store.endpoint(APP_ID, "ep-003") is not None  # kept in Pinpoint, not deleted
    assert server.store.call_count("DeleteEndpoint") == 0
    assert_all_delivered_once(conn, server, N_ENDPOINTS + 1)


def test_attribute_over_100_characters_is_refused_before_any_call(conn, manifest_path, server):
    client = client_for(server)
    sync(conn, manifest_path, client, "run-1")
    calls_before = server.store.call_count()
    conn.execute(
        "update marts.endpoint_segment_attributes set loyalty_tier = repeat('x', 101) where endpoint_id = 'ep-002'"
    )
    refused = sync(conn, manifest_path, client, "run-2")
    assert (refused.planned, refused.refused, refused.failed, refused.requests) == (1, 1, 1, 0)
    assert server.store.call_count() == calls_before  # not a single request
    reason = conn.execute(
        "select reason from ewh_sync.sync_items where run_id = 'run-2' and item_id = 'ep-002'"
    ).fetchone()[0]
    assert "refused" in reason and "100" in reason
    assert server.store.endpoint(APP_ID, "ep-002")["Attributes"]["loyalty_tier"] == ["gold"]  # old value kept

    conn.execute("update marts.endpoint_segment_attributes set loyalty_tier = 'x' where endpoint_id = 'ep-002'")
    fixed = sync(conn, manifest_path, client, "run-3")
    assert (fixed.planned, fixed.accepted, fixed.requests) == (1, 1, 1)
    assert_all_delivered_once(conn, server, N_ENDPOINTS + 1)
