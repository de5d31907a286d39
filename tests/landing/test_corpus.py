"""The bad-input corpus: every case in `corpus/` lands into a fresh lake (file:// and s3://) with the expected outcome.

A case is a folder: `case.yml` (description, source, expected outcome) and the raw objects under `raw/...` exactly
as producers write them (byte-exact: see `corpus/.gitattributes`). A case may also list S3 folder placeholders,
`generated` objects too big to commit, `runs` (land that many times) and a `contract.yml` for a test-only partner.
Expected: rows in, staged, duplicates, quarantined by reason code (summed over the runs), optionally manifest
object counts, staged column values and quarantined line numbers. Every run's counts must add up.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import pytest
import yaml

from engagement_warehouse.landing import LandingManifest, land_source
from engagement_warehouse.sources import get_source
from engagement_warehouse.sources.base import Source
from engagement_warehouse.sources.partner import PartnerContract, PartnerSource

if TYPE_CHECKING:
    from .conftest import LakeUnderTest

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(path.name for path in CORPUS.iterdir() if (path / "case.yml").is_file())
AS_OF = date(2026, 11, 22)
UNTIL = datetime(2026, 11, 23)
MANIFEST_COUNTS = ("objects_read", "objects_empty", "objects_refused", "objects_already_landed", "objects_placeholder")


def load_case(name: str) -> tuple[dict[str, Any], Source, dict[str, bytes]]:
    """The case spec, its source, and its raw objects {lake key: bytes}."""
    folder = CORPUS / name
    spec = yaml.safe_load((folder / "case.yml").read_text(encoding="utf-8"))
    if spec["source"] == "contract.yml":
        source: Source = PartnerSource(PartnerContract.load(folder / "contract.yml"))
    else:
        source = get_source(spec["source"])
    objects = {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted((folder / "raw").rglob("*"))
        if path.is_file()
    }
    for generated in spec.get("generated", []):
        objects[generated["key"]] = b"".join(_generated_line(line) for line in generated["lines"])
    return spec, source, objects


def _generated_line(line: dict[str, Any]) -> bytes:
    """One JSON line; `{pad_to_bytes: N, record: {...}}` pads the record's properties to N bytes."""
    if "pad_to_bytes" not in line:
        return json.dumps(line).encode() + b"\n"
    record = dict(line["record"])
    record["properties"] = {"padding": "x" * line["pad_to_bytes"]}
    return json.dumps(record).encode() + b"\n"


def _comparable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def test_the_corpus_covers_the_issue() -> None:
    assert len(CASES) >= 30
    reasons = set()
    for name in CASES:
        reasons.update(yaml.safe_load((CORPUS / name / "case.yml").read_text())["expect"].get("quarantined", {}))
    assert {"malformed_json", "truncated_gzip", "line_too_long", "wrong_encoding", "missing_required_column"} <= reasons
    assert {"plaintext_email_in_hashed_column", "address_not_e164", "event_in_future", "unknown_event_type"} <= reasons


@pytest.mark.parametrize("case_name", CASES)
def test_corpus_case(case_name: str, any_lake: LakeUnderTest) -> None:
    spec, source, objects = load_case(case_name)
    expect = spec["expect"]
    for key in spec.get("placeholders", []):
        any_lake.put(key, b"")
    for key, data in objects.items():
        any_lake.put(key, data)

    manifests: list[LandingManifest] = [
        land_source(any_lake.lake, source, run_id=f"run-{run}", logical_date=AS_OF, until=UNTIL)
        for run in range(1, spec.get("runs", 1) + 1)
    ]

    for manifest in manifests:
        assert manifest.counts_add_up, manifest.to_json()
    total = Counter[str]()
    by_reason = Counter[str]()
    for manifest in manifests:
        for name in ("rows_in", "rows_staged", "duplicates", "quarantined", *MANIFEST_COUNTS):
            total[name] += getattr(manifest, name)
        by_reason.update(manifest.quarantined_by_reason)
    for name in ("rows_in", "rows_staged", *MANIFEST_COUNTS):
        if name in expect:
            assert total[name] == expect[name], name
    assert total["duplicates"] == expect.get("duplicates", 0)
    assert dict(by_reason) == expect.get("quarantined", {})

    staged = [
        row
        for data in any_lake.files(f"staged/{source.name}/", ".parquet").values()
        for row in pq.read_table(io.BytesIO(data)).cast(source.schema).to_pylist()
    ]
    assert len(staged) == total["rows_staged"]
    for column, values in expect.get("staged", {}).items():
        found = sorted((_comparable(row[column]) for row in staged), key=lambda v: (v is not None, str(v)))
        assert found == sorted(values, key=lambda v: (v is not None, str(v))), column

    quarantined = [
        json.loads(line)
        for data in any_lake.files(f"quarantine/{source.name}/", ".jsonl").values()
        for line in data.decode("utf-8").splitlines()
    ]
    assert Counter(record["reason"] for record in quarantined) == by_reason
    assert all(record["source_key"] in objects and record["detail"] is not None for record in quarantined)
    if "quarantine_lines" in expect:
        assert sorted(record["line_number"] for record in quarantined) == expect["quarantine_lines"]
