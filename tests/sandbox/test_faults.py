"""Fault injection, configured per test and at runtime through the `/_sandbox/` control API."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from engagement_warehouse.sandbox import FaultConfig, SandboxServer

from ._helpers import APP, ROLE, email_item, make_client, poll, put, raw


def _outcomes(client, calls: int) -> list[int]:
    statuses = []
    for i in range(calls):
        try:
            put(client, [email_item(f"ep-{i}")])
            statuses.append(202)
        except ClientError as exc:
            statuses.append(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return statuses


def test_throttling_is_a_token_bucket_per_operation_with_429_and_no_retry_after(client, sandbox):
    sandbox.set_faults(FaultConfig(throttle={"UpdateEndpointsBatch": 5.0}, throttle_burst=2))
    assert _outcomes(client, 3) == [202, 202, 429]
    with pytest.raises(ClientError) as excinfo:
        put(client, [email_item("x")])
    response = excinfo.value.response
    assert response["Error"]["Code"] == "TooManyRequestsException"
    assert "retry-after" not in {k.lower() for k in response["ResponseMetadata"]["HTTPHeaders"]}
    client.get_endpoint(ApplicationId=APP, EndpointId="ep-0")  # other operations have their own bucket
    time.sleep(0.25)  # 5 tokens/s refill one token
    put(client, [email_item("after-refill")])
    assert sandbox.store.call_count("UpdateEndpointsBatch", status=429) == 2


def test_random_errors_are_seeded_and_reproducible(client, sandbox):
    sandbox.set_faults(FaultConfig(error_rate=0.5, seed=7))
    first = _outcomes(client, 12)
    sandbox.set_faults(FaultConfig(error_rate=0.5, seed=7))
    second = _outcomes(client, 12)
    assert first == second
    assert 500 in first and 202 in first


def test_a_burst_of_consecutive_5xx_then_recovery(client, sandbox):
    sandbox.set_faults(FaultConfig(error_burst=3))
    assert _outcomes(client, 5) == [500, 500, 500, 202, 202]
    codes = [c["error_code"] for c in sandbox.store.calls("UpdateEndpointsBatch")]
    assert codes == ["InternalServerErrorException"] * 3 + [None, None]


def test_burst_can_be_limited_to_some_operations(client, sandbox):
    sandbox.set_faults(FaultConfig(error_burst=1, error_status=503, operations=["GetEndpoint"]))
    put(client, [email_item("ep-0")])
    with pytest.raises(ClientError) as excinfo:
        client.get_endpoint(ApplicationId=APP, EndpointId="ep-0")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    client.get_endpoint(ApplicationId=APP, EndpointId="ep-0")


def test_added_latency(client, sandbox):
    put(client, [email_item("ep-0")])
    sandbox.set_faults(FaultConfig(latency_ms=300))
    start = time.monotonic()
    client.get_endpoint(ApplicationId=APP, EndpointId="ep-0")
    assert time.monotonic() - start >= 0.3


def test_fail_after_k_successful_batches_simulates_a_crash_between_batches(client, sandbox):
    sandbox.set_faults(FaultConfig(fail_batches_after=2))
    assert _outcomes(client, 4) == [202, 202, 500, 500]
    assert [e["Id"] for e in sandbox.store.endpoints(APP)] == ["ep-0", "ep-1"]

    sandbox.set_faults(FaultConfig(fail_batches_after=1, fail_batches_count=1))
    assert _outcomes(client, 3) == [202, 500, 202]


def _import_and_finish(client, tmp_path) -> dict:
    put(client, [email_item(f"ep-{i}") for i in range(3)])
    path = tmp_path / "seg.csv"
    path.write_text("Id\nep-0\nep-1\nep-2\n")
    request = {"Format": "CSV", "S3Url": path.as_uri(), "RoleArn": ROLE, "DefineSegment": True}
    job = client.create_import_job(ApplicationId=APP, ImportJobRequest=request)["ImportJobResponse"]
    final, _ = poll(lambda: client.get_import_job(ApplicationId=APP, JobId=job["Id"])["ImportJobResponse"])
    return final


def test_import_jobs_that_end_failed(client, sandbox, tmp_path):
    sandbox.set_faults(FaultConfig(import_outcome="failed"))
    final = _import_and_finish(client, tmp_path)
    assert final["JobStatus"] == "FAILED"
    assert final["FailedPieces"] == 1
    assert final["Failures"]
    assert sandbox.store.segments(APP) == []


def test_import_jobs_that_complete_with_failures(client, sandbox, tmp_path):
    sandbox.set_faults(FaultConfig(import_outcome="completed_with_failures", import_failed_rows=2))
    final = _import_and_finish(client, tmp_path)
    assert final["JobStatus"] == "COMPLETED"
    assert final["TotalFailures"] == 2
    assert len(final["Failures"]) == 2
    assert sandbox.store.segment_members(APP, final["Definition"]["SegmentId"]) == ["ep-2"]


def test_faults_given_at_start(tmp_path):
    with SandboxServer(tmp_path / "p.db", faults={"error_burst": 1}) as sandbox:
        client = make_client(sandbox.endpoint_url)
        assert _outcomes(client, 2) == [500, 202]


def test_runtime_control_api(client, sandbox):
    base = f"{sandbox.endpoint_url}/_sandbox"
    assert raw(f"{base}/health", "GET")[0] == 200
    status, _, config = raw(f"{base}/faults", "POST", {"error_burst": 1})
    assert (status, config["error_burst"]) == (200, 1)
    assert _outcomes(client, 2) == [500, 202]
    assert raw(f"{base}/faults", "POST", {"no_such_fault": 1})[0] == 400
    assert raw(f"{base}/faults", "POST", {"error_rate": 2})[0] == 400

    status, _, settings = raw(f"{base}/settings", "POST", {"max_concurrent_import_jobs": 5})
    assert (status, settings["max_concurrent_import_jobs"]) == (200, 5)

    assert raw(f"{base}/reset", "POST")[0] == 200
    assert sandbox.store.endpoints(APP) == []
    assert sandbox.store.call_count() == 0
    assert raw(f"{base}/faults", "GET")[2]["error_burst"] == 0
    assert sandbox.store.call_count() == 0  # control calls are not Pinpoint calls


def test_retrying_client_recovers_from_a_burst(sandbox):
    """botocore's own retry handler sees the same 5xx Pinpoint would send, and retries them."""
    import boto3
    from botocore.config import Config

    sandbox.set_faults(FaultConfig(error_burst=2))
    client = boto3.client(
        "pinpoint",
        endpoint_url=sandbox.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )
    put(client, [email_item("ep-0")])
    assert [c["status"] for c in sandbox.store.calls("UpdateEndpointsBatch")] == [500, 500, 202]
