"""The run summary `make run` prints: what landed, what was built, what the gate said, what reached Pinpoint.

Everything is read back from where the pipeline keeps its state (lake manifests, warehouse tables, the sync
ledger), never from the memory of a run, so the summary tells the truth about what is stored.

    python -m engagement_warehouse.reporting.summary --as-of 2026-11-22
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from engagement_warehouse.lake import Lake
from engagement_warehouse.settings import Settings, get_settings

MART_SCHEMAS = ("marts", "segments")


@dataclass
class RunSummary:
    as_of: str
    landing: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)
    sync_runs: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)


def landing_totals(lake: Lake, as_of: date) -> dict[str, dict[str, Any]]:
    """Per source: the sum over every landing manifest written for `as_of` (first runs and reruns)."""
    totals: dict[str, dict[str, Any]] = {}
    for obj in lake.list_objects("manifests/landing/"):
        parts = obj.key.split("/")
        if len(parts) != 5 or parts[3] != as_of.isoformat() or not obj.key.endswith(".json"):
            continue
        manifest = json.loads(lake.read_bytes(obj.key))
        total = totals.setdefault(
            manifest["source"], {"runs": 0, "rows_in": 0, "staged": 0, "duplicates": 0, "quarantined": 0}
        )
        total["runs"] += 1
        total["rows_in"] += manifest["rows_in"]
        total["staged"] += manifest["rows_staged"]
        total["duplicates"] += manifest["duplicates"]
        total["quarantined"] += manifest["quarantined"]
    return totals


def _query(connection: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[dict[str, Any]]:
    cursor = connection.execute(sql, list(params))
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def warehouse_facts(
    settings: Settings, as_of: date
) -> tuple[dict[str, int], list[dict[str, Any]], list[dict[str, Any]]]:
    """Row counts of every mart and segment table, and the sync ledger rows for `as_of`."""
    if not settings.duckdb_path.exists():
        return {}, [], []
    connection = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        relations = _query(
            connection,
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw', 'marts', 'segments') order by 1, 2",
        )
        tables = {
            f"{r['table_schema']}.{r['table_name']}": connection.execute(
                f'select count(*) from "{r["table_schema"]}"."{r["table_name"]}"'
            ).fetchone()[0]
            for r in relations
        }
        has_ledger = (
            _query(
                connection,
                "select count(*) as n from information_schema.tables where table_schema = 'ewh_sync' "
                "and table_name in ('sync_runs', 'sync_items')",
            )[0]["n"]
            == 2
        )
        runs: list[dict[str, Any]] = []
        segments: list[dict[str, Any]] = []
        if has_ledger:
            runs = _query(
                connection,
                "select run_id, step, dry_run, endpoints_planned, endpoints_sent, endpoints_accepted, "
                "endpoints_failed, status from ewh_sync.sync_runs where logical_date = ? "
                "order by started_at, step",
                as_of,
            )
            segments = _query(
                connection,
                "select * from ewh_sync.sync_items where item_type = 'segment' and run_id in "
                "(select run_id from ewh_sync.sync_runs where logical_date = ?) order by item_id",
                as_of,
            )
    finally:
        connection.close()
    return tables, runs, segments


def collect(settings: Settings, as_of: date) -> RunSummary:
    lake = Lake.from_settings(settings)
    summary = RunSummary(as_of=as_of.isoformat())
    summary.landing = landing_totals(lake, as_of)
    summary.tables, summary.sync_runs, summary.segments = warehouse_facts(settings, as_of)
    for obj in lake.list_objects("manifests/quality/"):
        if obj.key.endswith(f"/{as_of.isoformat()}.json"):
            summary.gates[obj.key.split("/")[2]] = json.loads(lake.read_bytes(obj.key))
    candidates = {
        "dbt docs": settings.dbt_project_dir / "target" / "index.html",
        "Data Docs": settings.data_docs_dir / "index.html",
        "sync report": settings.local_dir / "reports" / "sync_report.html",
        "lake": Path(settings.lake_url.removeprefix("file://")),
        "warehouse": settings.duckdb_path,
    }
    summary.paths = {name: str(path) for name, path in candidates.items() if path.exists()}
    return summary


def render(summary: RunSummary) -> str:
    lines = [f"=== engagement-warehouse run summary (as_of {summary.as_of}) ==="]
    lines.append("landing (rows in = staged + duplicates + quarantined):")
    for source, total in sorted(summary.landing.items()):
        lines.append(
            f"  {source:<24} in {total['rows_in']:>8}  staged {total['staged']:>8}  "
            f"duplicates {total['duplicates']:>5}  quarantined {total['quarantined']:>5}  ({total['runs']} run(s))"
        )
    if not summary.landing:
        lines.append("  (no landing manifest for this day)")
    lines.append("warehouse tables:")
    for name, count in summary.tables.items():
        lines.append(f"  {name:<48} {count:>8} rows")
    lines.append("quality gates (Great Expectations checkpoints):")
    for checkpoint, gate in sorted(summary.gates.items()):
        lines.append(
            f"  {checkpoint:<20} {'PASSED' if gate.get('passed') else 'FAILED':<7} checks passed "
            f"{gate.get('checks_passed', '?')}, failed {gate.get('checks_failed', '?')}, "
            f"warnings {gate.get('warnings', '?')}"
        )
    if not summary.gates:
        lines.append("  (no gate ran for this day)")
    latest = summary.sync_runs[-1]["run_id"] if summary.sync_runs else None
    earlier = sorted({run["run_id"] for run in summary.sync_runs} - {latest})
    lines.append(f"sync to Pinpoint (latest run {latest}):" if latest else "sync to Pinpoint:")
    for run in (run for run in summary.sync_runs if run["run_id"] == latest):
        lines.append(
            f"  {run['step']:<10} {run['status']:<10} planned {run['endpoints_planned'] or 0:>6}  "
            f"sent {run['endpoints_sent'] or 0:>6}  accepted {run['endpoints_accepted'] or 0:>6}  "
            f"failed {run['endpoints_failed'] or 0:>4}{'  (dry run)' if run['dry_run'] else ''}"
        )
    for item in (item for item in summary.segments if item.get("run_id") == latest):
        lines.append(
            f"  segment {item.get('item_id')}: {item.get('outcome')}, {item.get('rows')} members, "
            f"import job {item.get('job_status') or '-'}, segment id {item.get('segment_id')}"
        )
    if earlier:
        lines.append(f"  ({len(earlier)} earlier sync run(s) for this day are in ewh_sync.sync_runs)")
    if not summary.sync_runs:
        lines.append("  (no sync recorded for this day)")
    lines.append("where to look:")
    for name, path in summary.paths.items():
        lines.append(f"  {name:<12} {path}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the summary of the pipeline's run for a day.")
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    summary = collect(get_settings(), args.as_of)
    print(json.dumps(summary.__dict__, indent=2, default=str) if args.json else render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
