"""Shared tiny runs of the generator (20 users, 3 days): generated once per test session."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from engagement_warehouse.sample_data import GenerationSummary, generate

TINY_USERS = 20
TINY_DAYS = 3
END = date(2026, 11, 22)


@dataclass
class Run:
    summary: GenerationSummary
    root: Path  # the lake root directory

    def files(self, source: str) -> list[Path]:
        return sorted(p for p in (self.root / "raw" / source).rglob("*") if p.is_file())

    def text(self, path: Path) -> str:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        return data.decode("utf-8")

    def lines(self, source: str) -> list[tuple[Path, str]]:
        return [(p, line) for p in self.files(source) for line in self.text(p).splitlines()]

    def records(self, source: str) -> list[dict]:
        return [json.loads(line) for _, line in self.lines(source)]


def run_into(root: Path, users: int = TINY_USERS, days: int = TINY_DAYS, seed: int = 7, **kwargs) -> Run:
    summary = generate(root.as_uri(), users, days, seed, END, application_id="test-app", **kwargs)
    return Run(summary, root)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_into(tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="session")
def week(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A bigger run (60 users, 10 days) where the one-week-earlier export and snapshot are in the window."""
    return run_into(tmp_path_factory.mktemp("lake_week"), users=60, days=10)
