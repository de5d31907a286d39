"""Both lake kinds, idempotency and rewritten objects, on generated sample data.

- The same raw objects land into byte-identical staged and quarantine files on `file://` and on `s3://` (moto).
- Rerunning any interval, or all of them twice, changes nothing; neither does losing the ledger and landing
  everything again.
- An object rewritten under the same key replaces its staged rows (never adds to them); a local file that is
  only touched (same bytes, new mtime) is re-read and rewrites byte-identical staged files.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest

from engagement_warehouse.lake import Lake
from engagement_warehouse.landing import LandingManifest, land_source
from engagement_warehouse.sample_data.generator import generate
from engagement_warehouse.sources import all_sources, get_source

from .conftest import make_lake

if TYPE_CHECKING:
    from .conftest import LakeUnderTest

END = date(2026, 11, 22)
DAYS = 2
INTERVALS = [datetime(2026, 11, 21) + timedelta(days=n) for n in range(DAYS + 1)]  # each day's end


@pytest.fixture(scope="module")
def raw_objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A small generated lake's raw objects ({key: bytes}), every source, with the generator's own dirt."""
    root = tmp_path_factory.mktemp("generated")
    generate(root.as_uri(), users=25, days=DAYS, seed=11, end_date=END, application_id="app-test")
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def land_all(target: LakeUnderTest, until: datetime | None, run_id: str) -> list[LandingManifest]:
    manifests = [
        land_source(target.lake, source, run_id=run_id, logical_date=END, until=until) for source in all_sources()
    ]
    assert all(manifest.counts_add_up for manifest in manifests)
    return manifests


def landed_state(target: LakeUnderTest) -> dict[str, bytes]:
    """Everything landing produced that downstream reads: staged Parquet and quarantine files, byte for byte."""
    return {**target.files("staged/"), **target.files("quarantine/")}


def test_landing_is_identical_on_both_lake_kinds_and_reruns_change_nothing(
    raw_objects: dict[str, bytes],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    states: dict[str, dict[str, bytes]] = {}
    for kind in ("file", "s3"):
        (tmp_path / kind).mkdir()
        target = make_lake(kind, tmp_path / kind, request, monkeypatch)
        for key, data in raw_objects.items():
            target.put(key, data)
        first = [m for n, until in enumerate(INTERVALS[1:]) for m in land_all(target, until, f"day-{n}")]
        assert sum(m.rows_staged for m in first) > 0 and sum(m.duplicates for m in first) > 0
        assert sum(m.quarantined for m in first) > 0  # the generator writes a malformed line and a bad partner row
        state = landed_state(target)

        # Rerun every interval, then everything twice: nothing is read, nothing changes.
        reruns = [m for until in [*INTERVALS[1:], None, None] for m in land_all(target, until, "rerun")]
        assert sum(m.objects_read for m in reruns) == 0
        assert landed_state(target) == state

        # Lose the ledger and land everything again: the same bytes come out.
        target.lake.remove_prefix("ledger/")
        again = land_all(target, None, "after-ledger-loss")
        assert sum(m.rows_in for m in again) == sum(m.rows_in for m in first)
        assert landed_state(target) == state
        states[kind] = state

    assert states["file"] == states["s3"]
    assert any(key.endswith(".parquet") for key in states["file"])


def staged_ids(target: LakeUnderTest, source_name: str, column: str) -> list[str]:
    source = get_source(source_name)
    return sorted(
        value
        for key in target.files(f"staged/{source.name}/", ".parquet")
        for value in pq.read_table(target.lake.path(key), filesystem=target.lake.fs, columns=[column])
        .column(column)
        .to_pylist()
    )


ENDPOINTS_KEY = "raw/pinpoint_endpoints/2026/11/22/export-1.json"
ENDPOINT = '{{"Id": "{id}", "ChannelType": "EMAIL", "Address": "{id}@example.com"}}\n'


def test_an_object_rewritten_under_its_key_replaces_its_rows(any_lake: LakeUnderTest) -> None:
    """Endpoint exports dedupe per object only: a rewrite must replace the object's staged rows, not add to them."""
    any_lake.put(ENDPOINTS_KEY, (ENDPOINT.format(id="e1") + ENDPOINT.format(id="e2")).encode())
    land_source(any_lake.lake, get_source("pinpoint_endpoints"), run_id="r1", logical_date=END, until=None)
    any_lake.put(ENDPOINTS_KEY, (ENDPOINT.format(id="e1") + ENDPOINT.format(id="e3")).encode())
    second = land_source(any_lake.lake, get_source("pinpoint_endpoints"), run_id="r2", logical_date=END, until=None)
    assert second.objects_read == 1
    assert staged_ids(any_lake, "pinpoint_endpoints", "endpoint_id") == ["e1", "e3"]


def test_identical_bytes_rewritten_never_duplicate(any_lake: LakeUnderTest) -> None:
    """S3: the same bytes keep their ETag, so the object is skipped. Local: a new mtime re-reads the file, and the
    rewrite of its staged file is byte-identical (the documented cost of using the mtime as the local ETag)."""
    body = (ENDPOINT.format(id="e1") + ENDPOINT.format(id="e2")).encode()
    any_lake.put(ENDPOINTS_KEY, body)
    land_source(any_lake.lake, get_source("pinpoint_endpoints"), run_id="r1", logical_date=END, until=None)
    before = landed_state(any_lake)
    any_lake.put(ENDPOINTS_KEY, body)
    if any_lake.root is not None:  # make the new mtime certain whatever the filesystem's timestamp resolution
        stat = (any_lake.root / ENDPOINTS_KEY).stat()
        os.utime(any_lake.root / ENDPOINTS_KEY, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = land_source(any_lake.lake, get_source("pinpoint_endpoints"), run_id="r2", logical_date=END, until=None)
    assert second.objects_read == (1 if any_lake.kind == "file" else 0)
    assert landed_state(any_lake) == before
    assert staged_ids(any_lake, "pinpoint_endpoints", "endpoint_id") == ["e1", "e2"]


def test_parsing_in_worker_processes_lands_the_same_bytes(raw_objects: dict[str, bytes], tmp_path: Path) -> None:
    """`workers=2` (spawned parsers, in-order dedupe and writes here) gives the sequential run's bytes and counts."""
    lakes = {}
    for mode in ("parallel", "sequential"):
        root = tmp_path / mode
        for key, data in raw_objects.items():
            if key.startswith("raw/clickstream/"):
                (root / key).parent.mkdir(parents=True, exist_ok=True)
                (root / key).write_bytes(data)
        lakes[mode] = Lake(root.as_uri())
    source = get_source("clickstream")
    parallel = land_source(lakes["parallel"], source, run_id="r", logical_date=END, until=None, workers=2)
    alone = land_source(lakes["sequential"], source, run_id="r", logical_date=END, until=None)
    assert parallel.objects_read > 2 and parallel.duplicates > 0
    counts = ("rows_in", "rows_staged", "duplicates", "quarantined_by_reason", "staged_partitions")
    assert [getattr(parallel, name) for name in counts] == [getattr(alone, name) for name in counts]
    staged = {
        mode: sorted((p.name, p.read_bytes()) for p in (tmp_path / mode / "staged").rglob("*.parquet"))
        for mode in lakes
    }
    assert staged["parallel"] == staged["sequential"] and staged["parallel"]
