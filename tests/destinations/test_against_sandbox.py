"""End to end against the local Pinpoint sandbox (a real HTTP server and the real boto3 client)."""

import asyncio
from datetime import datetime
from pathlib import Path

import pytest

from engagement_warehouse.destinations.base import Outcome
from engagement_warehouse.destinations.pinpoint.client import make_pinpoint_client
from engagement_warehouse.destinations.pinpoint.sync import (
    export_segments,
    import_segments,
    start_segment_import,
    sync_endpoint_attributes,
)

from .conftest import APP_ID, LOGICAL_DATE, ROLE_ARN

sandbox = pytest.importorskip("engagement_warehouse.sandbox")

FIXED = datetime(2026, 11, 23, 6, 0, 0)


@pytest.fixture
def server(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with sandbox.SandboxServer(tmp_path / "pinpoint.db", "127.0.0.1", port=0) as running:
        yield running


@pytest.fixture
def client(server):
    return make_pinpoint_client(server.endpoint_url, "us-east-1", max_attempts=2)


def sync(conn, manifest_path, client, run_id):
    return sync_endpoint_attributes(
        conn, manifest_path, client, APP_ID, run_id, LOGICAL_DATE, rate_per_second=1000.0, clock=lambda: FIXED
    )


def test_full_sync_then_second_sync_makes_zero_calls(conn, manifest_path, server, client):
    first = sync(conn, manifest_path, client, "run-1")
    assert (first.accepted, first.failed) == (3, 0)
    assert server.store.call_count("UpdateEndpointsBatch") == 1
    endpoint = server.store.endpoint(APP_ID, "ep-1")
    assert endpoint["Attributes"]["loyalty_tier"] == ["gold"]
    assert endpoint["User"]["UserAttributes"]["interests"] == ["running", "cycling"]
    assert endpoint["Metrics"]["lifetime_value"] == 120.5

    second = sync(conn, manifest_path, client, "run-2")
    assert (second.planned, second.requests) == (0, 0)
    assert server.store.call_count("UpdateEndpointsBatch") == 1

    conn.execute("update marts.endpoint_segment_attributes set loyalty_tier = null where endpoint_id = 'ep-1'")
    third = sync(conn, manifest_path, client, "run-3")
    assert third.accepted == 1
    assert not server.store.endpoint(APP_ID, "ep-1").get("Attributes", {}).get("loyalty_tier")


def test_segment_import_completes_with_members_and_reruns_reuse_the_segment(
    conn, manifest_path, server, client, tmp_path: Path
):
    conn.execute(
        "create or replace table segments.seg_gold_members as select * from (values ('ep-1'), ('ep-2')) t(endpoint_id)"
    )
    sync(conn, manifest_path, client, "run-1")
    lake = (tmp_path / "lake").as_uri()
    for run_id in ("run-1", "run-2"):
        exports = export_segments(conn, manifest_path, APP_ID, run_id, LOGICAL_DATE, lake_url=lake)
        outcomes = import_segments(conn, client, APP_ID, ROLE_ARN, exports, run_id, poll_interval=0.01, timeout=30)
        assert [(o.item_id, o.outcome) for o in outcomes] == [("seg_gold_members", Outcome.ACCEPTED)]
    segments = server.store.segments(APP_ID)
    assert [s["Name"] for s in segments] == ["Gold members"]
    assert sorted(server.store.segment_members(APP_ID, segments[0]["Id"])) == ["ep-1", "ep-2"]
    assert server.store.call_count("CreateImportJob") == 2
    registry = conn.execute("select segment_id from ewh_sync.segment_registry").fetchall()
    assert registry == [(segments[0]["Id"],)]


def test_trigger_polls_until_completed(conn, manifest_path, server, client, tmp_path: Path):
    from engagement_warehouse.destinations.pinpoint.triggers import PinpointImportJobTrigger

    sync(conn, manifest_path, client, "run-1")
    (export,) = export_segments(conn, manifest_path, APP_ID, "run-1", LOGICAL_DATE, lake_url=(tmp_path / "l").as_uri())
    handle = start_segment_import(conn, client, APP_ID, ROLE_ARN, export, "run-1")
    trigger = PinpointImportJobTrigger(APP_ID, handle.job_id, "us-east-1", server.endpoint_url, poll_interval=0.01)
    classpath, kwargs = trigger.serialize()
    assert classpath == "engagement_warehouse.destinations.pinpoint.triggers.PinpointImportJobTrigger"
    rebuilt = PinpointImportJobTrigger(**kwargs)

    async def first_event():
        async for event in rebuilt.run():
            return event.payload

    payload = asyncio.run(asyncio.wait_for(first_event(), timeout=20))
    assert payload["status"] == "success"
    assert payload["job_status"] == "COMPLETED"
    assert payload["segment_id"]
    assert payload["total_failures"] == 0
    assert server.store.call_count("GetImportJob") > 1  # it really polled through non-terminal states


def test_trigger_times_out(server, client):
    from engagement_warehouse.destinations.pinpoint.triggers import PinpointImportJobTrigger

    job = client.create_import_job(
        ApplicationId=APP_ID,
        ImportJobRequest={"Format": "CSV", "S3Url": "file:///nonexistent/", "RoleArn": ROLE_ARN},
    )["ImportJobResponse"]
    trigger = PinpointImportJobTrigger(
        APP_ID, job["Id"], "us-east-1", server.endpoint_url, poll_interval=0.01, timeout_seconds=0
    )

    async def first_event():
        async for event in trigger.run():
            return event.payload

    payload = asyncio.run(asyncio.wait_for(first_event(), timeout=20))
    assert payload["status"] == "timeout"
    assert payload["job_status"] not in ("COMPLETED", "FAILED")


def test_transient_5xx_is_retried_by_botocore(conn, manifest_path, server):
    server.set_faults({"error_burst": 1, "error_status": 503})
    client = make_pinpoint_client(server.endpoint_url, "us-east-1", retry_mode="standard", max_attempts=3)
    result = sync(conn, manifest_path, client, "run-1")
    assert (result.accepted, result.failed, result.requests) == (3, 0, 1)  # one request from our side
    assert server.store.call_count("UpdateEndpointsBatch", status=503) == 1
    assert server.store.call_count("UpdateEndpointsBatch", status=202) == 1


def test_batch_failing_after_retries_is_retried_next_run(conn, manifest_path, server):
    server.set_faults({"fail_batches_after": 1})
    client = make_pinpoint_client(server.endpoint_url, "us-east-1", max_attempts=1)
    first = sync_endpoint_attributes(
        conn, manifest_path, client, APP_ID, "run-1", LOGICAL_DATE, rate_per_second=1000.0, max_items=2
    )
    assert (first.accepted, first.failed, first.status) == (2, 1, "partial")
    server.set_faults({})
    second = sync(conn, manifest_path, client, "run-2")
    assert (second.planned, second.accepted) == (1, 1)
    assert server.store.endpoint(APP_ID, "ep-3") is not None


def test_import_completed_with_failures_is_surfaced(conn, manifest_path, server, client, tmp_path: Path):
    sync(conn, manifest_path, client, "run-1")
    server.set_faults({"import_outcome": "completed_with_failures", "import_failed_rows": 1})
    exports = export_segments(conn, manifest_path, APP_ID, "run-1", LOGICAL_DATE, lake_url=(tmp_path / "l").as_uri())
    (outcome,) = import_segments(conn, client, APP_ID, ROLE_ARN, exports, "run-1", poll_interval=0.01)
    assert outcome.outcome is Outcome.ACCEPTED
    assert "1 rows failed" in outcome.reason
    (strict,) = import_segments(
        conn, client, APP_ID, ROLE_ARN, exports, "run-2", poll_interval=0.01, fail_on_row_failures=True
    )
    assert strict.outcome is Outcome.FAILED


def bulk_sync(conn, manifest_path, client, run_id, tmp_path, **kwargs):
    return sync_endpoint_attributes(
        conn,
        manifest_path,
        client,
        APP_ID,
        run_id,
        LOGICAL_DATE,
        lake_url=(tmp_path / "lake").as_uri(),
        bulk_threshold=1,
        import_role_arn=ROLE_ARN,
        bulk_poll_interval=0.01,
        clock=lambda: FIXED,
        **kwargs,
    )


def test_bulk_path_imports_once_and_commits_state(conn, manifest_path, server, client, tmp_path: Path):
    conn.execute(
        "update marts.endpoint_segment_attributes set loyalty_tier = repeat('x', 101) where endpoint_id = 'ep-3'"
    )
    result = bulk_sync(conn, manifest_path, client, "run-1", tmp_path)
    assert (result.sent, result.accepted, result.refused, result.requests) == (2, 2, 1, 1)
    assert server.store.call_count("CreateImportJob") == 1
    assert server.store.call_count("UpdateEndpointsBatch") == 0
    assert server.store.endpoint(APP_ID, "ep-1")["User"]["UserAttributes"]["interests"] == [
        "running",
        "cycling",
    ]
    assert server.store.endpoint(APP_ID, "ep-3") is None  # refused before sending
    files = sorted((tmp_path / "lake/exports/pinpoint/endpoints/2026-11-23").iterdir())
    assert [f.name for f in files] == ["part-00000.json"]
    assert len(files[0].read_text().splitlines()) == 2

    conn.execute("update marts.endpoint_segment_attributes set loyalty_tier = 'gold' where endpoint_id = 'ep-3'")
    conn.execute("update marts.endpoint_segment_attributes set loyalty_tier = null where endpoint_id = 'ep-1'")
    second = bulk_sync(conn, manifest_path, client, "run-2", tmp_path)
    assert (second.planned, second.accepted, second.failed) == (2, 2, 0)
    assert not server.store.endpoint(APP_ID, "ep-1").get("Attributes", {}).get("loyalty_tier")
    third = bulk_sync(conn, manifest_path, client, "run-3", tmp_path)
    assert (third.planned, third.requests) == (0, 0)


def test_bulk_job_with_failures_commits_nothing(conn, manifest_path, server, client, tmp_path: Path):
    server.set_faults({"import_outcome": "completed_with_failures", "import_failed_rows": 1})
    result = bulk_sync(conn, manifest_path, client, "run-1", tmp_path)
    assert (result.accepted, result.failed, result.status) == (0, 3, "failed")
    assert conn.execute("select count(*) from ewh_sync.endpoint_state").fetchone()[0] == 0
    reasons = conn.execute("select distinct reason from ewh_sync.sync_items where outcome = 'failed'").fetchall()
    assert len(reasons) == 1 and "state not committed" in reasons[0][0]
    server.set_faults({})
    retry = bulk_sync(conn, manifest_path, client, "run-2", tmp_path)
    assert (retry.planned, retry.accepted) == (3, 3)


def test_bulk_path_declines_when_too_big_and_batches_run(conn, manifest_path, server, client, tmp_path: Path):
    from engagement_warehouse.destinations.export_contract import find_export_contract, load_manifest
    from engagement_warehouse.destinations.pinpoint.bulk import PinpointBulkImport
    from engagement_warehouse.destinations.pinpoint.destination import PinpointDestination
    from engagement_warehouse.destinations.sync import sync_endpoints

    lake = (tmp_path / "lake").as_uri()
    bulk = PinpointBulkImport(client, APP_ID, ROLE_ARN, lake, LOGICAL_DATE, threshold=1, max_job_bytes=100)
    result = sync_endpoints(
        conn,
        find_export_contract(load_manifest(manifest_path)),
        PinpointDestination(client, APP_ID, rate_per_second=1000.0),
        "run-1",
        LOGICAL_DATE,
        bulk=bulk,
    )
    assert result.accepted == 3
    assert server.store.call_count("CreateImportJob") == 0
    assert server.store.call_count("UpdateEndpointsBatch") == 1
    assert not (tmp_path / "lake/exports/pinpoint/endpoints/2026-11-23").exists()
