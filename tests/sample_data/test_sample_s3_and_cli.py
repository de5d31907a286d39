import json
import socket

import boto3
import pytest
from moto.server import ThreadedMotoServer

from engagement_warehouse.sample_data import generate
from engagement_warehouse.sample_data.__main__ import main

from .conftest import END


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_endpoint(monkeypatch):
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "EWH_S3_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield endpoint
    finally:
        server.stop()


def test_s3_lake_gets_the_same_bytes_as_a_local_lake(s3_endpoint, tmp_path):
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="lake")
    remote = generate("s3://lake/dev", 6, 1, 3, END, application_id="test-app")
    local = generate(tmp_path.as_uri(), 6, 1, 3, END, application_id="test-app")
    assert remote.files_written == local.files_written
    listed = {
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="lake", Prefix="dev/")
        for obj in page.get("Contents", [])
    }
    assert listed == {f"dev/{key}" for key in local.files_written}
    for key in local.files_written:
        body = s3.get_object(Bucket="lake", Key=f"dev/{key}")["Body"].read()
        assert body == (tmp_path / key).read_bytes(), key


def test_cli_prints_the_summary(tmp_path, capsys):
    lake = tmp_path / "lake"
    assert main(["--lake-url", lake.as_uri(), "--users", "5", "--days", "1", "--seed", "1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["users"] == 5 and summary["end_date"] == "2026-11-22"
    first = lake / summary["files_written"][0]
    assert first.exists()
    assert main(["--lake-url", lake.as_uri(), "--users", "5", "--days", "1", "--end-date", "2026-01-02"]) == 0
    text = capsys.readouterr().out
    assert "clickstream" in text and "2026-01-02" in text
    assert (lake / "raw/clickstream/2026/01/02").is_dir()
    assert first.stat().st_size > 0
