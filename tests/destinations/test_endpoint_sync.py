import json
from datetime import datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from engagement_warehouse.destinations.pinpoint.sync import sync_endpoint_attributes

from .conftest import APP_ID, LOGICAL_DATE, accepted_response

FIXED = datetime(2026, 11, 23, 6, 0, 0)


class RecordingClient:
    """A stand-in client that records UpdateEndpointsBatch calls and can crash or refuse on given calls."""

    def __init__(self, crash_on_call: int | None = None, client_error_on_call: int | None = None) -> None:
        self.calls: list[list[dict]] = []
        self.crash_on_call = crash_on_call
        self.client_error_on_call = client_error_on_call

    def update_endpoints_batch(self, ApplicationId: str, EndpointBatchRequest: dict) -> dict:
        number = len(self.calls) + 1
        if number == self.crash_on_call:
            raise RuntimeError("worker killed")
        self.calls.append(EndpointBatchRequest["Item"])
        if number == self.client_error_on_call:
            raise ClientError(
                {
                    "Error": {"Code": "BadRequestException", "Message": "nope"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "UpdateEndpointsBatch",
            )
        return accepted_response()

    @property
    def sent_ids(self) -> list[str]:
        return [item["Id"] for call in self.calls for item in call]


def run_sync(conn, manifest_path, client, run_id="run-1", **kwargs):
    kwargs.setdefault("rate_per_second", 1000.0)
    return sync_endpoint_attributes(
        conn, manifest_path, client, APP_ID, run_id, LOGICAL_DATE, clock=lambda: FIXED, **kwargs
    )


def expected_item_ep1() -> dict:
    return {
        "Id": "ep-1",
        "Address": "a@example.com",
        "ChannelType": "EMAIL",
        "OptOut": "NONE",
        "Attributes": {"loyalty_tier": ["gold"]},
        "Metrics": {"lifetime_value": 120.5},
        "User": {"UserId": "u-1", "UserAttributes": {"interests": ["running", "cycling"]}},
    }


def test_first_sync_sends_all_then_unchanged_data_makes_zero_calls(conn, manifest_path, pinpoint_client):
    with Stubber(pinpoint_client) as stub:
        stub.add_response("update_endpoints_batch", accepted_response())
        result = run_sync(conn, manifest_path, pinpoint_client)
        stub.assert_no_pending_responses()
    assert (result.planned, result.accepted, result.failed, result.requests) == (3, 3, 0, 1)
    assert result.status == "succeeded"
    state = conn.execute("select endpoint_id, synced_at, run_id from ewh_sync.endpoint_state order by 1").fetchall()
    assert state == [(f"ep-{i}", datetime(2026, 11, 23), "run-1") for i in (1, 2, 3)]

    with Stubber(pinpoint_client) as stub:  # no response queued: any call would fail the test
        again = run_sync(conn, manifest_path, pinpoint_client, run_id="run-2")
    assert (again.planned, again.requests, again.status) == (0, 0, "succeeded")


def test_changed_attribute_sends_only_that_endpoint(conn, manifest_path, pinpoint_client):
    run_sync(conn, manifest_path, RecordingClient())
    conn.execute("update marts.endpoint_segment_attributes set loyalty_tier = 'gold' where endpoint_id = 'ep-2'")
    conn.execute("update marts.endpoint_segment_attributes set internal_note = 'ignored' where endpoint_id = 'ep-3'")
    expected = {
        "ApplicationId": APP_ID,
        "EndpointBatchRequest": {
            "Item": [
                {
                    "Id": "ep-2",
                    "Address": "b@example.com",
                    "ChannelType": "EMAIL",
                    "OptOut": "NONE",
                    "Attributes": {"loyalty_tier": ["gold"]},
                    "Metrics": {"lifetime_value": 10.0},
                    "User": {"UserId": "u-2", "UserAttributes": {"interests": ["reading"]}},
                }
            ]
        },
    }
    with Stubber(pinpoint_client) as stub:
        stub.add_response("update_endpoints_batch", accepted_response(), expected)
        result = run_sync(conn, manifest_path, pinpoint_client, run_id="run-2")
        stub.assert_no_pending_responses()
    assert (result.planned, result.new, result.accepted) == (1, 0, 1)


def test_attribute_set_to_null_is_sent_cleared(conn, manifest_path):
    run_sync(conn, manifest_path, RecordingClient())
    conn.execute(
        "update marts.endpoint_segment_attributes set loyalty_tier = null, interests = '', "
        "lifetime_value = null where endpoint_id = 'ep-1'"
    )
    client = RecordingClient()
    result = run_sync(conn, manifest_path, client, run_id="run-2")
    assert client.sent_ids == ["ep-1"]
    item = client.calls[0][0]
    assert item["Attributes"] == {"loyalty_tier": []}
    assert item["User"]["UserAttributes"] == {"interests": []}
    assert "Metrics" not in item  # metrics cannot be emptied: dropped, and noted on the item
    reason = conn.execute(
        "select reason from ewh_sync.sync_items where run_id = 'run-2' and item_id = 'ep-1'"
    ).fetchone()[0]
    assert "Metrics.lifetime_value is null" in reason
    assert result.accepted == 1


def test_crash_between_batches_resumes_with_exactly_the_rest(conn, manifest_path):
    rows = [(f"ep-{i:02d}", None, "EMAIL", "NONE", f"u-{i}", "gold", None, float(i), None) for i in range(7)]
    conn.execute("delete from marts.endpoint_segment_attributes")
    conn.executemany("insert into marts.endpoint_segment_attributes values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    crashing = RecordingClient(crash_on_call=3)
    with pytest.raises(RuntimeError, match="worker killed"):
        run_sync(conn, manifest_path, crashing, max_items=2)
    assert crashing.sent_ids == ["ep-00", "ep-01", "ep-02", "ep-03"]
    assert conn.execute("select count(*) from ewh_sync.endpoint_state").fetchone()[0] == 4
    status = conn.execute("select status, endpoints_accepted from ewh_sync.sync_runs").fetchone()
    assert status == ("error", 4)

    rerun = RecordingClient()
    result = run_sync(conn, manifest_path, rerun, max_items=2)
    assert rerun.sent_ids == ["ep-04", "ep-05", "ep-06"]
    assert (result.accepted, result.requests) == (3, 2)


def test_failed_batch_is_recorded_and_retried_next_run(conn, manifest_path):
    client = RecordingClient(client_error_on_call=1)
    result = run_sync(conn, manifest_path, client, max_items=2)
    assert client.sent_ids == ["ep-1", "ep-2", "ep-3"]  # went on to the next batch
    assert (result.accepted, result.failed, result.status) == (1, 2, "partial")
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["failures"][0] == {
        "item_id": "ep-1",
        "outcome": "failed",
        "reason": "BadRequestException (HTTP 400): nope",
    }
    failed = conn.execute(
        "select item_id, reason from ewh_sync.sync_items where outcome = 'failed' order by 1"
    ).fetchall()
    assert [f[0] for f in failed] == ["ep-1", "ep-2"]
    assert "BadRequestException (HTTP 400): nope" in failed[0][1]
    run = conn.execute(
        "select endpoints_planned, endpoints_sent, endpoints_accepted, endpoints_failed, status "
        "from ewh_sync.sync_runs where run_id = 'run-1'"
    ).fetchone()
    assert run == (3, 3, 1, 2, "partial")

    retry = RecordingClient()
    run_sync(conn, manifest_path, retry, run_id="run-2", max_items=2)
    assert retry.sent_ids == ["ep-1", "ep-2"]


def test_value_over_100_chars_is_refused_before_any_call(conn, manifest_path, pinpoint_client):
    conn.execute("delete from marts.endpoint_segment_attributes where endpoint_id <> 'ep-1'")
    conn.execute("update marts.endpoint_segment_attributes set loyalty_tier = repeat('x', 101)")
    with Stubber(pinpoint_client):  # no response queued: a call would raise
        result = run_sync(conn, manifest_path, pinpoint_client)
    assert (result.requests, result.refused, result.failed, result.status) == (0, 1, 1, "failed")
    reason = conn.execute("select reason from ewh_sync.sync_items where item_id = 'ep-1'").fetchone()[0]
    assert reason.startswith("refused: Attributes.loyalty_tier has a value of 101 characters")
    assert conn.execute("select count(*) from ewh_sync.endpoint_state").fetchone()[0] == 0


def test_disappeared_endpoint_is_recorded_not_deleted(conn, manifest_path):
    run_sync(conn, manifest_path, RecordingClient())
    conn.execute("delete from marts.endpoint_segment_attributes where endpoint_id = 'ep-3'")
    client = RecordingClient()
    result = run_sync(conn, manifest_path, client, run_id="run-2")
    assert client.calls == []
    assert result.disappeared == 1
    row = conn.execute(
        "select item_id, outcome from ewh_sync.sync_items where run_id = 'run-2' and reason like 'disappeared%'"
    ).fetchall()
    assert row == [("ep-3", "skipped")]


def test_duplicate_endpoint_ids_fail_loudly(conn, manifest_path):
    run_sync(conn, manifest_path, RecordingClient())  # ep-1 synced: a same-data duplicate is not "changed"
    conn.execute(
        "insert into marts.endpoint_segment_attributes select * from marts.endpoint_segment_attributes limit 1"
    )
    with pytest.raises(ValueError, match="duplicate endpoint ids"):
        run_sync(conn, manifest_path, RecordingClient())


def test_dry_run_writes_plan_and_diff_and_makes_no_call(conn, manifest_path, tmp_path: Path, pinpoint_client):
    run_sync(conn, manifest_path, RecordingClient())
    conn.execute("update marts.endpoint_segment_attributes set loyalty_tier = 'platinum' where endpoint_id <> 'ep-3'")
    lake = (tmp_path / "lake").as_uri()
    with Stubber(pinpoint_client):
        result = run_sync(conn, manifest_path, pinpoint_client, run_id="run-dry", dry_run=True, lake_url=lake)
    assert (result.status, result.planned, result.requests) == ("dry_run", 2, 0)
    folder = tmp_path / "lake/exports/pinpoint/dry_run/2026-11-23"
    planned = [json.loads(line) for line in (folder / "planned_endpoints.jsonl").read_text().splitlines()]
    assert [p["Id"] for p in planned] == ["ep-1", "ep-2"]
    assert planned[0]["Attributes"] == {"loyalty_tier": ["platinum"]}
    diff = json.loads((folder / "endpoints_diff.json").read_text())
    tier = next(a for a in diff["attributes"] if a["path"] == "Attributes.loyalty_tier")
    assert tier["endpoints_changed"] == 2
    assert {(c["from"][0], c["to"][0], c["endpoints"]) for c in tier["top_changes"]} == {
        ("gold", "platinum", 1),
        ("silver", "platinum", 1),
    }
    address = next(a for a in diff["attributes"] if a["path"] == "Address")
    assert address["endpoints_changed"] == 0
    assert "Attributes.loyalty_tier | 2 |" in (folder / "endpoints_diff.md").read_text()
    # nothing was committed: the real run still sends both
    assert conn.execute("select count(*) from ewh_sync.endpoint_state where run_id = 'run-dry'").fetchone()[0] == 0


def test_diff_is_set_based_and_fast(conn, manifest_path):
    """200k endpoints, 10% changed: the plan is built in DuckDB in seconds (1M measured at ~3 s)."""
    import time

    from engagement_warehouse.destinations.export_contract import find_export_contract, load_manifest
    from engagement_warehouse.destinations.state import build_endpoint_plan, iter_plan

    conn.execute(
        """create or replace table marts.endpoint_segment_attributes as
        select 'ep-' || lpad(cast(i as varchar), 7, '0') as endpoint_id,
               'u' || i || '@example.com' as address,
               'EMAIL' as channel_type, 'NONE' as opt_out, 'u-' || i as user_id,
               ['gold', 'silver', 'bronze'][1 + i % 3] as loyalty_tier, 'a|b' as interests,
               (i % 1000) * 1.5 as lifetime_value, 'n' as internal_note
        from range(200000) t(i)"""
    )
    contract = find_export_contract(load_manifest(manifest_path))
    started = time.monotonic()
    plan = build_endpoint_plan(conn, contract, "pinpoint:perf")
    conn.execute(
        f"insert into ewh_sync.endpoint_state select 'pinpoint:perf', endpoint_id, attribute_hash, "
        f"attributes_json, timestamp '2026-11-23', 'r0' from {plan.table}"
    )
    conn.execute("update marts.endpoint_segment_attributes set loyalty_tier = 'platinum' where endpoint_id like '%7'")
    plan = build_endpoint_plan(conn, contract, "pinpoint:perf")
    elapsed = time.monotonic() - started
    assert (plan.desired, plan.changed, plan.new) == (200000, 20000, 0)
    assert elapsed < 20, elapsed
    first = next(iter_plan(conn, plan))
    assert first.endpoint_id == "ep-0000007"
    assert first.attributes["Attributes.loyalty_tier"] == ["platinum"]
