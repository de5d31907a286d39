"""Fixtures for landing tests: a lake of either kind (`file://` in tmp_path, `s3://` on moto's server) and a producer.

The S3 lake is a real `s3://` lake built from settings (`EWH_LAKE_URL`, `EWH_S3_ENDPOINT_URL`) against
moto's server on 127.0.0.1 (the session-wide `moto_endpoint` fixture of tests/conftest.py), started once and stopped
at its end. Producers write raw objects the way they do in production: plain files locally, `PutObject` on S3.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from engagement_warehouse.lake import Lake
from engagement_warehouse.settings import load_settings

REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


@dataclass
class LakeUnderTest:
    """A lake plus the producer side of it: `put` writes a raw object as Firehose, Pinpoint or a partner would."""

    kind: str
    lake: Lake
    root: Path | None = None  # file:// lakes
    s3: Any = None  # s3:// lakes: a boto3 client on the moto server
    bucket: str = ""
    prefix: str = ""

    def put(self, key: str, data: bytes) -> None:
        """Write a raw object; a key ending in `/` is an S3 console 'folder' placeholder (a directory locally)."""
        if self.s3 is not None:
            self.s3.put_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}", Body=data)
            return
        assert self.root is not None
        path = self.root / key
        if key.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def files(self, prefix: str, suffix: str = "") -> dict[str, bytes]:
        """Every object under `prefix` (ending in `suffix`) as {key: bytes}, through the lake itself."""
        return {
            obj.key: self.lake.read_bytes(obj.key)
            for obj in self.lake.list_objects(prefix)
            if obj.key.endswith(suffix) and not obj.key.endswith("/")
        }


def make_lake(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> LakeUnderTest:
    """A fresh, empty lake of `kind` ("file" or "s3")."""
    if kind == "file":
        root = tmp_path / "lake"
        root.mkdir()
        return LakeUnderTest("file", Lake(root.as_uri()), root=root)
    endpoint = request.getfixturevalue("moto_endpoint")
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = f"ewh-lake-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    client.create_bucket(Bucket=bucket)
    settings = load_settings(
        {"EWH_LAKE_URL": f"s3://{bucket}/lake", "EWH_S3_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION}
    )
    return LakeUnderTest("s3", Lake.from_settings(settings), s3=client, bucket=bucket, prefix="lake")


@pytest.fixture(params=["file", "s3"])
def any_lake(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LakeUnderTest:
    """The same test on a `file://` lake and on an `s3://` lake."""
    return make_lake(request.param, tmp_path, request, monkeypatch)
