"""CreateImportJob / GetImportJob(s) and imported segments through the real boto3 client."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from engagement_warehouse.sandbox import SandboxServer

from ._helpers import APP, ROLE, email_item, make_client, poll, put


def _write(path: Path, text: str | bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path.as_uri()


def _import(client, url: str, fmt: str = "CSV", **extra) -> dict:
    request = {"Format": fmt, "S3Url": url, "RoleArn": ROLE, **extra}
    return client.create_import_job(ApplicationId=APP, ImportJobRequest=request)["ImportJobResponse"]


def _finish(client, job_id: str) -> tuple[dict, list[str]]:
    return poll(lambda: client.get_import_job(ApplicationId=APP, JobId=job_id)["ImportJobResponse"])


def test_id_only_csv_defines_a_segment_of_existing_endpoints_and_completes_by_polling(client, sandbox, tmp_path):
    put(client, [email_item(f"ep-{i}") for i in range(4)])
    url = _write(tmp_path / "segment.csv", "Id\nep-0\nep-2\nep-3\n")

    created = client.create_import_job(
        ApplicationId=APP,
        ImportJobRequest={
            "Format": "CSV",
            "S3Url": url,
            "RoleArn": ROLE,
            "DefineSegment": True,
            "SegmentName": "winback",
        },
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    job = created["ImportJobResponse"]
    assert job["JobStatus"] == "CREATED"
    assert job["Type"] == "IMPORT"
    assert job["Definition"]["S3Url"] == url

    final, seen = _finish(client, job["Id"])
    assert seen == ["INITIALIZING", "PROCESSING", "COMPLETED"]
    assert final["TotalPieces"] == final["CompletedPieces"] == 1
    assert final["FailedPieces"] == 0
    assert final["TotalProcessed"] == 3
    assert final["TotalFailures"] == 0
    assert final["CompletionDate"] >= final["CreationDate"]

    [segment] = client.get_segments(ApplicationId=APP)["SegmentsResponse"]["Item"]
    assert segment["Name"] == "winback"
    assert segment["SegmentType"] == "IMPORT"
    assert segment["ImportDefinition"]["Size"] == 3
    assert segment["ImportDefinition"]["ChannelCounts"] == {"EMAIL": 3}
    assert final["Definition"]["SegmentId"] == segment["Id"]
    assert sandbox.store.segment_members(APP, segment["Id"]) == ["ep-0", "ep-2", "ep-3"]
    assert len(sandbox.store.endpoints(APP)) == 4  # an Id-only file creates no endpoint


def test_reimport_with_segment_id_makes_a_new_version_not_a_new_segment(client, sandbox, tmp_path):
    put(client, [email_item(f"ep-{i}") for i in range(4)])
    first = _import(client, _write(tmp_path / "v1.csv", "Id\nep-0\nep-1\n"), DefineSegment=True, SegmentName="s")
    segment_id = _finish(client, first["Id"])[0]["Definition"]["SegmentId"]

    second = _import(client, _write(tmp_path / "v2.csv", "Id\nep-2\nep-3\n"), SegmentId=segment_id)
    final, _ = _finish(client, second["Id"])
    assert final["JobStatus"] == "COMPLETED"

    segments = client.get_segments(ApplicationId=APP)["SegmentsResponse"]["Item"]
    assert [s["Id"] for s in segments] == [segment_id]
    assert segments[0]["Version"] == 2
    assert sandbox.store.segment_members(APP, segment_id) == ["ep-2", "ep-3"]
    assert sandbox.store.segment_members(APP, segment_id, version=1) == ["ep-0", "ep-1"]
    versions = client.get_segment_versions(ApplicationId=APP, SegmentId=segment_id)["SegmentsResponse"]["Item"]
    assert [v["Version"] for v in versions] == [1, 2]
    v1 = client.get_segment_version(ApplicationId=APP, SegmentId=segment_id, Version="1")["SegmentResponse"]
    assert v1["ImportDefinition"]["S3Url"].endswith("v1.csv")
    segment_jobs = client.get_segment_import_jobs(ApplicationId=APP, SegmentId=segment_id)
    assert len(segment_jobs["ImportJobsResponse"]["Item"]) == 2


def test_reimport_into_an_unknown_segment_is_not_found(client, tmp_path):
    with pytest.raises(client.exceptions.NotFoundException):
        _import(client, _write(tmp_path / "a.csv", "Id\nx\n"), SegmentId="nope")


def test_a_third_concurrent_import_job_is_throttled(client, tmp_path):
    url = _write(tmp_path / "a.csv", "Id\nx\n")
    first = _import(client, url)
    _import(client, url)
    with pytest.raises(ClientError) as excinfo:
        _import(client, url)
    assert excinfo.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429

    _finish(client, first["Id"])
    assert _import(client, url)["JobStatus"] == "CREATED"
    jobs = client.get_import_jobs(ApplicationId=APP)["ImportJobsResponse"]["Item"]
    assert len(jobs) == 3


def test_concurrency_limit_is_configurable(tmp_path):
    url = _write(tmp_path / "a.csv", "Id\nx\n")
    with SandboxServer(tmp_path / "p.db", max_concurrent_import_jobs=1) as sandbox:
        client = make_client(sandbox.endpoint_url)
        _import(client, url)
        with pytest.raises(client.exceptions.TooManyRequestsException):
            _import(client, url)


def test_time_stepped_jobs_advance_without_polling_calls(tmp_path):
    url = _write(tmp_path / "a.csv", "Id\nx\n")
    with SandboxServer(tmp_path / "p.db", job_step_seconds=0) as sandbox:
        client = make_client(sandbox.endpoint_url)
        job = _import(client, url)
        assert client.get_import_job(ApplicationId=APP, JobId=job["Id"])["ImportJobResponse"]["JobStatus"] == (
            "COMPLETED"
        )


def test_csv_endpoint_definitions_register_endpoints_with_multi_valued_columns(client, sandbox, tmp_path):
    text = (
        "Id,Address,ChannelType,User.UserId,Attributes.Interest,Attributes.Interest,Metrics.visits,"
        "User.UserAttributes.Tier,Location.Country\n"
        'ep-1,one@example.com,EMAIL,u1,bus,"rail, night",3,gold,FR\n'
        "ep-2,+12065550100,SMS,u2,bus,,1.5,,\n"
    )
    job = _import(
        client,
        _write(tmp_path / "prefix" / "sub" / "endpoints.csv", text),
        RegisterEndpoints=True,
        DefineSegment=True,
    )
    final, _ = _finish(client, job["Id"])
    assert (final["JobStatus"], final["TotalProcessed"], final["TotalFailures"]) == ("COMPLETED", 2, 0)
    one = sandbox.store.endpoint(APP, "ep-1")
    assert one["Attributes"] == {"Interest": ["bus", "rail, night"]}
    assert one["Metrics"] == {"visits": 3.0}
    assert one["User"] == {"UserId": "u1", "UserAttributes": {"Tier": ["gold"]}}
    assert one["Location"] == {"Country": "FR"}
    two = sandbox.store.endpoint(APP, "ep-2")
    assert (two["ChannelType"], two["Attributes"], two["Metrics"]) == (
        "SMS",
        {"Interest": ["bus"]},
        {"visits": 1.5},
    )


def test_prefix_reads_every_file_in_subfolders(client, sandbox, tmp_path):
    put(client, [email_item(f"ep-{i}") for i in range(3)])
    _write(tmp_path / "exp" / "a" / "part-1.csv", "Id\nep-0\n")
    _write(tmp_path / "exp" / "b" / "c" / "part-2.csv", "Id\nep-1\nep-2\n")
    job = _import(client, (tmp_path / "exp").as_uri(), DefineSegment=True)
    final, _ = _finish(client, job["Id"])
    assert (final["TotalPieces"], final["TotalProcessed"]) == (2, 3)
    assert sandbox.store.segment_members(APP, final["Definition"]["SegmentId"]) == ["ep-0", "ep-1", "ep-2"]


def test_user_id_only_json_lines_define_a_segment_of_the_users_endpoints(client, sandbox, tmp_path):
    put(
        client,
        [
            email_item("a", User={"UserId": "u1"}),
            email_item("b", User={"UserId": "u1"}),
            email_item("c", User={"UserId": "u2"}),
        ],
    )
    lines = "\n".join(json.dumps({"User": {"UserId": u}}) for u in ("u1", "ghost")) + "\n"
    job = _import(client, _write(tmp_path / "users.json", lines), fmt="JSON", DefineSegment=True)
    final, _ = _finish(client, job["Id"])
    assert final["JobStatus"] == "COMPLETED"
    assert final["TotalFailures"] == 1  # "ghost" has no endpoint
    assert sandbox.store.segment_members(APP, final["Definition"]["SegmentId"]) == ["a", "b"]


def test_bad_rows_are_reported_and_good_rows_imported(client, sandbox, tmp_path):
    text = (
        "Id,Address,ChannelType,Attributes.Note,Metrics.visits\n"
        "ok,ok@example.com,EMAIL,fine,1\n"
        "tab,tab@example.com,EMAIL,has\ta tab,1\n"
        'newline,nl@example.com,EMAIL,"line\nbreak",1\n'
        "nan,nan@example.com,EMAIL,x,many\n"
        "sms,12065550100,SMS,x,1\n"
        "short,short@example.com\n"
    )
    job = _import(client, _write(tmp_path / "rows.csv", text))
    final, _ = _finish(client, job["Id"])
    assert final["JobStatus"] == "COMPLETED"
    assert final["TotalProcessed"] == 6
    assert final["TotalFailures"] == 5
    failures = " | ".join(final["Failures"])
    for reason in ("tab", "line break", "not a number", "E.164", "expected 5 values"):
        assert reason in failures
    assert [e["Id"] for e in sandbox.store.endpoints(APP)] == ["ok"]


@pytest.mark.parametrize(
    ("files", "fmt", "reason"),
    [
        ({"a.csv.gz": gzip.compress(b"Id\nx\n")}, "CSV", "compressed"),
        ({"a.csv": gzip.compress(b"Id\nx\n")}, "CSV", "compressed"),
        ({"a.csv": "Id\nx\n", "b.json": '{"Id": "x"}\n'}, "CSV", "one format"),
        ({"a.json": '{"Id": "x"}\n'}, "CSV", "Format"),
        ({"a.csv": "Id,Address\nx,caf\xe9\n".encode("latin-1")}, "CSV", "UTF-8"),
        ({"a.csv": "Id,Colour\nx,red\n"}, "CSV", "Unknown CSV column"),
        ({}, "CSV", "No files"),
    ],
)
def test_file_rule_violations_fail_the_job(client, sandbox, tmp_path, files, fmt, reason):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, content in files.items():
        _write(folder / name, content)
    job = _import(client, folder.as_uri(), fmt=fmt, DefineSegment=True)
    final, _ = _finish(client, job["Id"])
    assert final["JobStatus"] == "FAILED"
    assert final["FailedPieces"] >= 1
    assert reason in final["Failures"][0]
    assert sandbox.store.segments(APP) == []


def test_job_over_the_size_limit_fails(client, sandbox, tmp_path):
    sandbox.app.backend.max_import_bytes = 10
    job = _import(client, _write(tmp_path / "a.csv", "Id\nabcdefghijkl\n"))
    final, _ = _finish(client, job["Id"])
    assert final["JobStatus"] == "FAILED"
    assert "limit" in final["Failures"][0]


def test_invalid_import_requests_are_bad_requests(client):
    for request in (
        {"Format": "CSV", "S3Url": "https://example.com/a.csv", "RoleArn": ROLE},
        {"Format": "CSV", "S3Url": "file://relative/a.csv", "RoleArn": ROLE},
        {"Format": "CSV", "S3Url": "s3://bucket/a.csv", "RoleArn": "not-an-arn"},
        {"Format": "XML", "S3Url": "s3://bucket/a.csv", "RoleArn": ROLE},
    ):
        with pytest.raises(client.exceptions.BadRequestException):
            client.create_import_job(ApplicationId=APP, ImportJobRequest=request)


def test_s3_import_through_moto(client, sandbox, monkeypatch):
    import boto3
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        monkeypatch.setenv("EWH_S3_ENDPOINT_URL", f"http://{host}:{port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
        s3.create_bucket(Bucket="lake")
        s3.put_object(Bucket="lake", Key="exports/run-1/part-1.csv", Body=b"Id,Address,ChannelType\ne1,a@x.io,EMAIL\n")
        s3.put_object(
            Bucket="lake",
            Key="exports/run-1/deep/part-2.csv",
            Body=b"Id,Address,ChannelType\ne2,b@x.io,EMAIL\n",
        )
        s3.put_object(Bucket="lake", Key="exports/run-10/other.csv", Body=b"Id,Address,ChannelType\ne3,c@x.io,EMAIL\n")
        job = _import(client, "s3://lake/exports/run-1/", DefineSegment=True)
        final, _ = _finish(client, job["Id"])
        assert (final["JobStatus"], final["TotalPieces"]) == ("COMPLETED", 2)
        assert [e["Id"] for e in sandbox.store.endpoints(APP)] == ["e1", "e2"]
    finally:
        moto.stop()


def test_failures_list_only_the_first_100_bad_entries(client, tmp_path):
    rows = "".join(f"bad-{i},not-a-phone,SMS\n" for i in range(150))
    job = _import(client, _write(tmp_path / "bad.csv", "Id,Address,ChannelType\n" + rows))
    final, _ = _finish(client, job["Id"])
    assert (final["TotalProcessed"], final["TotalFailures"], len(final["Failures"])) == (150, 150, 100)


def test_get_import_jobs_pages(client, tmp_path):
    url = _write(tmp_path / "a.csv", "Id\nx\n")
    for _ in range(3):
        _finish(client, _import(client, url)["Id"])
    first = client.get_import_jobs(ApplicationId=APP, PageSize="2")["ImportJobsResponse"]
    assert len(first["Item"]) == 2
    rest = client.get_import_jobs(ApplicationId=APP, PageSize="2", Token=first["NextToken"])["ImportJobsResponse"]
    assert len(rest["Item"]) == 1 and "NextToken" not in rest


def test_bad_page_size_is_a_bad_request(client):
    with pytest.raises(client.exceptions.BadRequestException):
        client.get_import_jobs(ApplicationId=APP, PageSize="ten")
