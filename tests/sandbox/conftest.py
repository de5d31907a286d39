"""Fixtures: a sandbox on an ephemeral port and a real boto3 Pinpoint client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engagement_warehouse.sandbox import SandboxServer

from ._helpers import make_client


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    with SandboxServer(tmp_path / "pinpoint.db") as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer):
    return make_client(sandbox.endpoint_url)
