"""Fixtures for the warehouse loaders: an `s3://` lake on moto's server holding staged Parquet for every source.

moto runs in server mode on 127.0.0.1 (`moto_endpoint`, tests/conftest.py; S3 for the lake, which
s3fs reaches over HTTP, and Athena's query API), and stops at the end.
"""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engagement_warehouse.lake import Lake
from engagement_warehouse.settings import load_settings
from engagement_warehouse.sources import all_sources
from engagement_warehouse.sources.base import Source

REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
FIRST_PARTITION = datetime(2026, 11, 21, 23)
ROWS_PER_FILE = 3


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fake credentials, and boto3's service endpoints pointed at moto (AWS_ENDPOINT_URL_<SERVICE>)."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", moto_endpoint)
    return moto_endpoint


def sample_rows(source: Source, start: datetime, count: int) -> pa.Table:
    """`count` rows that satisfy `source.schema`, with `arrival_hour` = the partition's start (as landing sets it)."""
    columns = {}
    for field in source.schema:
        if field.name == "arrival_hour":
            values = [start] * count
        elif pa.types.is_string(field.type):
            values = [f"{field.name}-{start:%Y%m%d%H}-{i}" for i in range(count)]
        elif pa.types.is_integer(field.type):
            values = list(range(count))
        elif pa.types.is_floating(field.type):
            values = [i / 2 for i in range(count)]
        elif pa.types.is_boolean(field.type):
            values = [i % 2 == 0 for i in range(count)]
        elif pa.types.is_date(field.type):
            values = [start.date()] * count
        else:
            values = [start] * count
        columns[field.name] = pa.array(values, type=field.type)
    return pa.Table.from_pydict(columns, schema=source.schema)


def stage(lake: Lake, source: Source, partitions: int = 2) -> list[str]:
    """Write `partitions` staged partitions of one file each, as landing lays them out; return their folders."""
    step = timedelta(hours=1) if source.partitioning == "hour" else timedelta(days=1)
    folders = []
    for index in range(partitions):
        start = FIRST_PARTITION + index * step
        if source.partitioning == "day":
            start = start.replace(hour=0)
        folder = f"staged/{source.name}/dt={start:%Y-%m-%d}"
        if source.partitioning == "hour":
            folder += f"/hour={start:%H}"
        buffer = io.BytesIO()
        pq.write_table(sample_rows(source, start, ROWS_PER_FILE), buffer, compression="zstd")
        lake.write_bytes(f"{folder}/part-{index:04d}.parquet", buffer.getvalue())
        folders.append(folder)
    return folders


@pytest.fixture
def s3_lake(aws_env: str) -> Lake:
    """An empty `s3://` lake in a fresh bucket on moto."""
    bucket = f"ewh-lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=aws_env, region_name=REGION).create_bucket(Bucket=bucket)
    settings = load_settings(
        {"EWH_LAKE_URL": f"s3://{bucket}/lake", "EWH_S3_ENDPOINT_URL": aws_env, "AWS_DEFAULT_REGION": REGION}
    )
    return Lake.from_settings(settings)


@pytest.fixture
def staged_lake(s3_lake: Lake) -> tuple[Lake, dict[str, list[str]]]:
    """The lake with two staged partitions of every source (the partner included, from its contract)."""
    return s3_lake, {source.name: stage(s3_lake, source) for source in all_sources()}


@pytest.fixture
def stage_source() -> object:
    """`stage(lake, source, partitions=2)` as a fixture, for lakes the test builds itself."""
    return stage


@pytest.fixture
def make_rows() -> object:
    """`sample_rows(source, start, count)` as a fixture, for tests that write their own staged files."""
    return sample_rows
