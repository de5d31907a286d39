"""CreateExportJob / GetExportJob, CreateSegment / GetSegment, and the request log."""

from __future__ import annotations

import json
from urllib.parse import urlparse

import pytest

from ._helpers import APP, ROLE, email_item, poll, put


def _export(client, prefix: str, **extra) -> dict:
    request = {"S3UrlPrefix": prefix, "RoleArn": ROLE, **extra}
    created = client.create_export_job(ApplicationId=APP, ExportJobRequest=request)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    job = created["ExportJobResponse"]
    final, seen = poll(lambda: client.get_export_job(ApplicationId=APP, JobId=job["Id"])["ExportJobResponse"])
    assert seen[-1] == "COMPLETED" and len(seen) > 1
    return final


def _lines(folder) -> list[dict]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert files, "the export wrote nothing"
    return [json.loads(line) for p in files for line in p.read_text().splitlines()]


def test_export_writes_the_registry_as_json_lines_shaped_like_get_endpoint(client, tmp_path):
    put(client, [email_item("a", Attributes={"Plan": ["gold"]}), email_item("b", User={"UserId": "u"})])
    final = _export(client, (tmp_path / "out").as_uri())
    assert (final["Type"], final["TotalProcessed"]) == ("EXPORT", 2)
    lines = _lines(tmp_path / "out")
    assert [line["Id"] for line in lines] == ["a", "b"]
    assert lines[0] == client.get_endpoint(ApplicationId=APP, EndpointId="a")["EndpointResponse"]


def test_export_of_an_imported_segment_holds_only_its_members(client, tmp_path):
    put(client, [email_item(f"ep-{i}") for i in range(3)])
    segment_file = tmp_path / "seg.csv"
    segment_file.write_text("Id\nep-1\n")
    request = {"Format": "CSV", "S3Url": segment_file.as_uri(), "RoleArn": ROLE, "DefineSegment": True}
    job = client.create_import_job(ApplicationId=APP, ImportJobRequest=request)["ImportJobResponse"]
    done, _ = poll(lambda: client.get_import_job(ApplicationId=APP, JobId=job["Id"])["ImportJobResponse"])

    _export(client, (tmp_path / "seg-out").as_uri(), SegmentId=done["Definition"]["SegmentId"])
    assert [line["Id"] for line in _lines(tmp_path / "seg-out")] == ["ep-1"]


def test_dimensional_segments_are_stored_but_not_exportable(client, tmp_path):
    created = client.create_segment(
        ApplicationId=APP,
        WriteSegmentRequest={"Name": "gold", "Dimensions": {"Attributes": {"Plan": {"Values": ["gold"]}}}},
    )["SegmentResponse"]
    assert (created["SegmentType"], created["Version"], created["Name"]) == ("DIMENSIONAL", 1, "gold")
    fetched = client.get_segment(ApplicationId=APP, SegmentId=created["Id"])["SegmentResponse"]
    assert fetched["Dimensions"]["Attributes"]["Plan"]["Values"] == ["gold"]
    with pytest.raises(client.exceptions.BadRequestException):
        client.create_export_job(
            ApplicationId=APP,
            ExportJobRequest={
                "S3UrlPrefix": (tmp_path / "x").as_uri(),
                "RoleArn": ROLE,
                "SegmentId": created["Id"],
            },
        )
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_segment(ApplicationId=APP, SegmentId="missing")


def test_export_to_s3_through_moto(client, monkeypatch):
    import boto3
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        for name, value in {
            "EWH_S3_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
        s3.create_bucket(Bucket="lake")
        put(client, [email_item("a")])
        final = _export(client, "s3://lake/pinpoint-export/")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lake", Prefix="pinpoint-export/")["Contents"]]
        assert keys == [f"pinpoint-export/{final['Id']}/part-00000.json"]
        body = s3.get_object(Bucket="lake", Key=keys[0])["Body"].read().decode()
        assert json.loads(body)["Id"] == "a"
        assert urlparse(final["Definition"]["S3UrlPrefix"]).netloc == "lake"
    finally:
        moto.stop()


def test_request_log_counts_calls(client, sandbox, tmp_path):
    put(client, [email_item("a"), email_item("b")])
    put(client, [email_item("c")])
    client.get_endpoint(ApplicationId=APP, EndpointId="a")
    before = sandbox.store.call_count("UpdateEndpointsBatch")
    _export(client, (tmp_path / "out").as_uri())

    store = sandbox.store
    assert before == 2
    assert store.call_count("UpdateEndpointsBatch") == 2  # the export made zero batch calls
    assert [c["item_count"] for c in store.calls("UpdateEndpointsBatch")] == [2, 1]
    assert store.call_count("GetEndpoint") == 1
    assert store.call_count("CreateExportJob") == 1
    assert store.call_count("GetExportJob") >= 3
    assert store.call_count() == sum(store.call_count(op) for op in {c["operation"] for c in store.calls()})
    assert store.export_jobs(APP)[0]["JobStatus"] == "COMPLETED"
    row = store.calls()[0]
    assert set(row) == {
        "id",
        "ts",
        "operation",
        "method",
        "path",
        "app_id",
        "status",
        "item_count",
        "error_code",
    }
    assert (row["method"], row["path"], row["app_id"]) == ("PUT", f"/v1/apps/{APP}/endpoints", APP)


def test_unknown_paths_and_unimplemented_operations(sandbox, client):
    from ._helpers import raw

    status, headers, _ = raw(f"{sandbox.endpoint_url}/v1/nothing-here", "GET")
    assert (status, headers["x-amzn-ErrorType"]) == (404, "NotFoundException")
    with pytest.raises(client.exceptions.MethodNotAllowedException):
        client.get_campaigns(ApplicationId=APP)
    assert sandbox.store.calls("GetCampaigns")[0]["status"] == 405
