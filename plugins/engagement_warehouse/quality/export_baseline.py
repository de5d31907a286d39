"""The counts the circuit breaker compares: this run's export against the last successful export.

Counts (see `circuit_breaker` for the keys): `endpoints` in the export model, `changed_endpoints` (new or changed
since the last sync, from the same diff the exporter sends), and `segment:<name>` members per segment model.
The baseline of each successful, non-dry-run export is kept in `ewh_sync.export_baselines`, in the warehouse,
so it survives restarts and is queryable.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import duckdb

from engagement_warehouse.destinations.export_contract import ExportContract, SegmentModel
from engagement_warehouse.destinations.state import SCHEMA, build_endpoint_plan, ensure_sync_schema

DDL = f"""
create table if not exists {SCHEMA}.export_baselines (
    destination varchar not null,
    run_id varchar not null,
    as_of date not null,
    counts_json varchar not null,
    recorded_at timestamp not null,
    primary key (destination, run_id)
)
"""


def export_counts(
    conn: duckdb.DuckDBPyConnection, contract: ExportContract, segments: list[SegmentModel], destination: str
) -> dict[str, int]:
    """This run's counts, computed in the warehouse."""
    plan = build_endpoint_plan(conn, contract, destination)
    counts = {"endpoints": plan.desired, "changed_endpoints": plan.changed}
    for segment in segments:
        column = '"' + segment.id_column.replace('"', '""') + '"'
        (members,) = conn.execute(
            f"select count(distinct {column}) from {segment.relation} where {column} is not null"
        ).fetchone()
        counts[f"segment:{segment.segment_name}"] = int(members)
    return counts


def last_baseline(conn: duckdb.DuckDBPyConnection, destination: str) -> dict[str, int] | None:
    """The counts of the last successful export to `destination`, or None before the first one."""
    ensure_sync_schema(conn)
    conn.execute(DDL)
    row = conn.execute(
        f"select counts_json from {SCHEMA}.export_baselines where destination = ? "
        "order by recorded_at desc, run_id desc limit 1",
        [destination],
    ).fetchone()
    return None if row is None else {key: int(value) for key, value in json.loads(row[0]).items()}


def record_baseline(
    conn: duckdb.DuckDBPyConnection,
    destination: str,
    run_id: str,
    as_of: date,
    counts: dict[str, Any],
    recorded_at: datetime,
) -> None:
    """Remember a successful export's counts (a rerun of the same run id replaces its row)."""
    ensure_sync_schema(conn)
    conn.execute(DDL)
    conn.execute(
        f"insert or replace into {SCHEMA}.export_baselines values (?, ?, ?, ?, ?)",
        [destination, run_id, as_of, json.dumps(counts, sort_keys=True), recorded_at],
    )
