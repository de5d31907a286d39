"""One GX context for the quality tests: a copy of the committed `expectations/` in a temp dir.

Validation results and Data Docs go to the session's temp dir (never to the repo or `.local`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
os.environ["GX_ANALYTICS_ENABLED"] = "false"

T0 = dt.datetime(2026, 11, 1, 10, 0, 0)


@pytest.fixture(scope="session")
def gx_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("gx")
    root = base / "expectations"
    shutil.copytree(REPO_ROOT / "expectations", root)
    return {"root": root, "docs": base / "data_docs", "results": base / "validations"}


@pytest.fixture(scope="session", autouse=True)
def _gx_paths_in_tmp(gx_dirs: dict[str, Path]) -> Iterator[None]:
    """Any GX context opened without explicit paths writes under the session's tmp dir, not `.local`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EWH_DATA_DOCS_DIR", str(gx_dirs["docs"]))
        patch.setenv("EWH_GX_RESULTS_DIR", str(gx_dirs["results"]))
        patch.delenv("EWH_DATA_DOCS_URL", raising=False)
        yield


@pytest.fixture(scope="session")
def gx_context(gx_dirs: dict[str, Path]) -> Any:
    from engagement_warehouse.quality.context import load_context

    return load_context(gx_dirs["root"], data_docs_dir=gx_dirs["docs"], results_dir=gx_dirs["results"])


@pytest.fixture(scope="session")
def gate(gx_context: Any) -> Callable[..., Any]:
    """run_gate bound to the session context; Data Docs off unless asked (they are tested on their own)."""
    from engagement_warehouse.quality.gate import run_gate

    def run(checkpoint: str, batches: dict[str, pd.DataFrame], build_docs: bool = False) -> Any:
        return run_gate(checkpoint, batches, run_name="pytest", context=gx_context, build_docs=build_docs)

    return run


def _value(field: pa.Field, i: int) -> Any:
    t = field.type
    if pa.types.is_string(t):
        return f"{field.name}-{i}"
    if pa.types.is_integer(t):
        return i + 1
    if pa.types.is_floating(t):
        return float(i) + 0.5
    if pa.types.is_timestamp(t):
        return T0 + dt.timedelta(minutes=i)
    if pa.types.is_date(t):
        return T0.date()
    if pa.types.is_boolean(t):
        return True
    raise AssertionError(t)


def frame_from_schema(schema: pa.Schema, rows: int = 3, **overrides: Any) -> pd.DataFrame:
    """A clean frame with the schema's columns, read back through DuckDB as the gate's callers do."""
    data = [{f.name: _value(f, i) for f in schema} for i in range(rows)]
    for row in data:
        row.update(overrides)
    return through_duckdb(pa.Table.from_pylist(data, schema=schema))


def through_duckdb(table: pa.Table) -> pd.DataFrame:
    """Round-trip an Arrow table through DuckDB's `.df()`, which is how the gate's callers read tables."""
    con = duckdb.connect()
    try:
        con.register("staged", table)
        return con.sql("select * from staged").df()
    finally:
        con.close()


@pytest.fixture
def staged_frames() -> dict[str, pd.DataFrame]:
    """Clean staged frames, one per staged asset (partner key is a SHA-256 hex, as its contract says)."""
    from engagement_warehouse.quality import specs
    from engagement_warehouse.sources.staged_schemas import CLICKSTREAM_EVENTS, PINPOINT_ENDPOINTS

    frames = {
        "raw_clickstream_events": frame_from_schema(CLICKSTREAM_EVENTS),
        "raw_pinpoint_endpoints": frame_from_schema(PINPOINT_ENDPOINTS),
        "raw_pinpoint_events": pinpoint_events_frame(),
    }
    partner = partner_schema()
    frame = frame_from_schema(partner)
    frame["email_sha256"] = [f"{i:064x}" for i in range(len(frame))]
    frames["raw_partner_acme_loyalty"] = frame
    assert set(frames) <= set(specs.all_suites())
    return frames


def partner_schema() -> pa.Schema:
    from engagement_warehouse.sources.staged_schemas import LINEAGE_FIELDS

    return pa.schema(
        [
            pa.field("email_sha256", pa.string(), nullable=False),
            pa.field("loyalty_tier", pa.string(), nullable=False),
            pa.field("points_balance", pa.int64(), nullable=False),
            pa.field("member_since", pa.date32()),
            pa.field("file_date", pa.date32(), nullable=False),
            *LINEAGE_FIELDS,
        ]
    )


def email_event(
    event_id: str, event_type: str, message_id: str, event_at: dt.datetime, arrival_at: dt.datetime
) -> dict[str, Any]:
    facets = {"email_channel": {"mail_event": {"mail": {"message_id": message_id}}}}
    return {
        "event_id": event_id,
        "event_type": event_type,
        "event_at": event_at,
        "arrival_at": arrival_at,
        "event_version": "3.1",
        "client_id": "endpoint-1",
        "facets": json.dumps(facets),
        "attributes": "{}",
        "source_key": "raw/pinpoint_events/2026/11/01/10/part-0",
        "source_line": int(event_id.removeprefix("ev")),
        "arrival_hour": T0,
    }


def pinpoint_events_frame(events: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """Email events of one well-behaved message: send, delivered, open (arrival >= event time)."""
    from engagement_warehouse.sources.staged_schemas import PINPOINT_EVENTS

    minute = dt.timedelta(minutes=1)
    if events is None:
        events = [
            email_event("ev1", "_email.send", "m1", T0, T0),
            email_event("ev2", "_email.delivered", "m1", T0, T0 + minute),
            email_event("ev3", "_email.open", "m1", T0, T0 + 5 * minute),
        ]
    return through_duckdb(pa.Table.from_pylist(events, schema=PINPOINT_EVENTS))
