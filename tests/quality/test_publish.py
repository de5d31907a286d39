"""Publishing Data Docs to S3 (GX 1.x has no S3 site backend): moto stands in for S3."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from engagement_warehouse.quality.gate import run_gate
from engagement_warehouse.quality.publish import publish_url, published_url

from .test_gate_export import marts


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="ewh-docs")
        yield client


def keys(client) -> set[str]:
    return {o["Key"] for o in client.list_objects_v2(Bucket="ewh-docs").get("Contents", [])}


def test_gate_publishes_the_site_to_s3_and_reports_s3_links(gx_dirs, tmp_path, monkeypatch, s3):
    monkeypatch.setenv("EWH_DATA_DOCS_URL", "s3://ewh-docs/data_docs")
    local = tmp_path / "site"
    result = run_gate("build_marts", marts(), "run-1", root=gx_dirs["root"], data_docs_dir=local)

    assert result.data_docs_index == "s3://ewh-docs/data_docs/index.html"
    uploaded = keys(s3)
    assert "data_docs/index.html" in uploaded
    assert any(k.startswith("data_docs/static/") for k in uploaded)
    page = result.data_docs["export_segments"]
    assert page and page.startswith("s3://ewh-docs/data_docs/validations/export_segments/run-1/")
    assert page.removeprefix("s3://ewh-docs/") in uploaded
    head = s3.head_object(Bucket="ewh-docs", Key="data_docs/index.html")
    assert head["ContentType"] == "text/html"

    s3.delete_object(Bucket="ewh-docs", Key=page.removeprefix("s3://ewh-docs/"))
    result = run_gate("build_marts", marts(), "run-2", root=gx_dirs["root"], data_docs_dir=local)
    assert result.data_docs["export_segments"].removeprefix("s3://ewh-docs/") in keys(s3)
    # only this run's pages are uploaded again, not the history
    assert page.removeprefix("s3://ewh-docs/") not in keys(s3)


def test_publish_url_must_be_s3(monkeypatch):
    monkeypatch.setenv("EWH_DATA_DOCS_URL", "https://example.com/docs")
    with pytest.raises(ValueError, match="s3://"):
        publish_url()
    monkeypatch.delenv("EWH_DATA_DOCS_URL")
    assert publish_url() is None


def test_published_url_maps_only_pages_under_the_site(tmp_path):
    site = tmp_path / "site"
    local = (site / "validations" / "a.html").as_uri()
    assert published_url(local, site, "s3://b/p") == "s3://b/p/validations/a.html"
    assert published_url("file:///elsewhere/x.html", site, "s3://b/p") == "file:///elsewhere/x.html"
    assert published_url(None, site, "s3://b/p") is None
