"""The sync report: one self-contained HTML file about what the exports did, run after run.

Read from the sync ledger in the warehouse (`ewh_sync.sync_runs`, `ewh_sync.sync_items`, see
`destinations/ledger.py`), never from a run's memory, so it shows what is stored. Three plots (PNG,
embedded as base64 so the file can be mailed or attached to a ticket on its own):

- segment sizes over time: members per segment at each import, failed imports marked;
- endpoints changed per run: planned / accepted / failed per endpoint sync run;
- failures per run by reason (refused before sending, throttled, 5xx, failed imports ...).

Below the plots, tables list the runs and the most recent failures with their reasons.

    python -m engagement_warehouse.reporting.sync_report --out .local/reports/sync_report.html

matplotlib is used through `matplotlib.figure.Figure` (the Agg canvas), not pyplot: no global state,
no display needed, safe inside an Airflow worker.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import re
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from matplotlib.figure import Figure

DEFAULT_NAME = "sync_report.html"
MAX_FAILURES_LISTED = 50
MAX_RUNS_PLOTTED = 30  # bar plots show the latest runs only, so a year of daily runs stays readable
_LEDGER_TABLES = ("sync_runs", "sync_items")


def default_report_path(local_dir: Path) -> Path:
    """`<local dir>/reports/sync_report.html`."""
    return Path(local_dir) / "reports" / DEFAULT_NAME


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _has_ledger(conn: duckdb.DuckDBPyConnection) -> bool:
    found = conn.execute(
        "select count(*) from information_schema.tables where table_schema = 'ewh_sync' and table_name in (?, ?)",
        list(_LEDGER_TABLES),
    ).fetchone()[0]
    return found == len(_LEDGER_TABLES)


def _where(destination: str | None, alias: str = "") -> tuple[str, list[Any]]:
    prefix = f"{alias}." if alias else ""
    return (f"where {prefix}destination = ?", [destination]) if destination else ("where true", [])


def failure_category(reason: str | None) -> str:
    """A short class for a failure reason, to group failures in the plot (the full text is in the table)."""
    if not reason:
        return "unknown"
    if reason.startswith("bulk import job"):
        return "bulk import job failed"
    if reason.startswith("job "):  # segment import: "job FAILED: ..."
        return "import " + reason.split(":", 1)[0]
    if reason.startswith("timed out"):
        return "import timed out"
    head = re.split(r"[:(]", reason, maxsplit=1)[0].strip()
    return head[:40] or "unknown"


def load_ledger(conn: duckdb.DuckDBPyConnection, destination: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The ledger facts the report shows: endpoint runs, segment imports, failures per run, latest failures."""
    if not _has_ledger(conn):
        return {"runs": [], "segments": [], "failures": [], "latest_failures": []}
    where, params = _where(destination)
    runs = _rows(
        conn,
        f"""select run_id, destination, logical_date, started_at, finished_at, dry_run, endpoints_planned,
                   endpoints_sent, endpoints_accepted, endpoints_failed, status
            from ewh_sync.sync_runs {where} and step = 'endpoints'
            order by started_at nulls last, run_id""",
        params,
    )
    segments = _rows(
        conn,
        f"""select run_id, destination, item_id as segment_model, outcome, rows, job_status, attempt_at,
                   duration_seconds, reason
            from ewh_sync.sync_items {where} and item_type = 'segment' and outcome in ('accepted', 'failed')
            order by attempt_at nulls last, run_id""",
        params,
    )
    where_i, params_i = _where(destination, "i")
    failures = _rows(
        conn,
        f"""select i.run_id, i.item_type, i.reason, count(*) as items, min(i.attempt_at) as attempt_at
            from ewh_sync.sync_items i {where_i} and i.outcome = 'failed'
            group by all order by attempt_at nulls last, i.run_id""",
        params_i,
    )
    latest_failures = _rows(
        conn,
        f"""select run_id, destination, item_type, item_id, reason, attempt_at
            from ewh_sync.sync_items {where} and outcome = 'failed'
            order by attempt_at desc nulls last, run_id desc, item_id limit {MAX_FAILURES_LISTED}""",
        params,
    )
    return {"runs": runs, "segments": segments, "failures": failures, "latest_failures": latest_failures}


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _run_label(run: dict[str, Any]) -> str:
    label = f"{run['logical_date']} {run['run_id']}"
    return label if len(label) <= 40 else label[:37] + "..."


def plot_segment_sizes(segments: list[dict[str, Any]]) -> str | None:
    """Members per segment at each accepted import (line), failed imports as red crosses; base64 PNG."""
    if not segments:
        return None
    figure = Figure(figsize=(9, 4))
    axes = figure.subplots()
    by_segment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in segments:
        by_segment[row["segment_model"]].append(row)
    failed_label = "failed import"
    for name, rows in sorted(by_segment.items()):
        ok = [r for r in rows if r["outcome"] == "accepted" and r["rows"] is not None and r["attempt_at"]]
        axes.plot([r["attempt_at"] for r in ok], [r["rows"] for r in ok], marker="o", label=name)
        bad = [r for r in rows if r["outcome"] == "failed" and r["attempt_at"]]
        if bad:
            axes.scatter(
                [r["attempt_at"] for r in bad],
                [r["rows"] or 0 for r in bad],
                marker="x",
                color="red",
                s=60,
                zorder=3,
                label=failed_label,
            )
            failed_label = "_nolegend_"
    axes.set_title("Segment sizes over time (members per import)")
    axes.set_ylabel("members")
    axes.legend(loc="best", fontsize="small")
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    return _png(figure)


def plot_endpoints_per_run(runs: list[dict[str, Any]]) -> str | None:
    """Grouped bars of endpoints planned / accepted / failed per endpoint sync run; base64 PNG."""
    if not runs:
        return None
    runs = runs[-MAX_RUNS_PLOTTED:]
    figure = Figure(figsize=(max(6, 0.9 * len(runs) + 3), 4.5))
    axes = figure.subplots()
    positions = list(range(len(runs)))
    width = 0.27
    series = (
        ("planned", "endpoints_planned", "#4c72b0"),
        ("accepted", "endpoints_accepted", "#55a868"),
        ("failed", "endpoints_failed", "#c44e52"),
    )
    for offset, (label, key, color) in zip((-width, 0.0, width), series, strict=True):
        axes.bar([p + offset for p in positions], [r[key] or 0 for r in runs], width, label=label, color=color)
    axes.set_xticks(positions, [_run_label(r) + (" (dry run)" if r["dry_run"] else "") for r in runs])
    axes.tick_params(axis="x", labelrotation=30, labelsize="small")
    axes.set_title(f"Endpoints changed per run (latest {len(runs)})")
    axes.set_ylabel("endpoints")
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def plot_failures(failures: list[dict[str, Any]], run_ids: list[str] | None = None) -> str | None:
    """Stacked bars of failed items per run, split by failure category; base64 PNG.

    `run_ids` (in time order) puts runs without failures on the axis too, as empty bars.
    """
    if not failures:
        return None
    run_order: list[str] = list(run_ids or [])
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in failures:
        if row["run_id"] not in run_order:
            run_order.append(row["run_id"])
        category = f"{row['item_type']}: {failure_category(row['reason'])}"
        counts[category][row["run_id"]] += row["items"]
    run_order = run_order[-MAX_RUNS_PLOTTED:]
    figure = Figure(figsize=(max(6, 0.9 * len(run_order) + 3), 4.5))
    axes = figure.subplots()
    positions = list(range(len(run_order)))
    bottom = [0] * len(run_order)
    for category in sorted(counts):
        heights = [counts[category].get(run, 0) for run in run_order]
        axes.bar(positions, heights, 0.6, bottom=bottom, label=category)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    axes.set_xticks(positions, [run if len(run) <= 40 else run[:37] + "..." for run in run_order])
    axes.tick_params(axis="x", labelrotation=30, labelsize="small")
    axes.set_title(f"Failures per run, by reason (latest {len(run_order)} runs)")
    axes.set_ylabel("failed items")
    axes.legend(fontsize="small")
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if r[c] is None else str(r[c]))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(title: str, png: str | None, empty: str) -> str:
    if png is None:
        return f'<section><h2>{html.escape(title)}</h2><p class="empty">{html.escape(empty)}</p></section>'
    return (
        f"<section><h2>{html.escape(title)}</h2>"
        f'<img alt="{html.escape(title)}" src="data:image/png;base64,{png}"></section>'
    )


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
img { max-width: 100%; }
.empty { color: #777; font-style: italic; }
"""


def render_sync_report(
    ledger: dict[str, list[dict[str, Any]]], destination: str | None = None, generated_at: datetime | None = None
) -> str:
    """The report's HTML for ledger facts from `load_ledger`."""
    stamp = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    runs, segments = ledger["runs"], ledger["segments"]
    totals = {key: sum(r[f"endpoints_{key}"] or 0 for r in runs) for key in ("planned", "sent", "accepted", "failed")}
    run_ids = list(dict.fromkeys([r["run_id"] for r in runs] + [r["run_id"] for r in segments]))
    scope = html.escape(destination) if destination else "all destinations"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Sync report ({scope})</title><style>{_STYLE}</style></head><body>",
        f"<h1>Sync report ({scope})</h1>",
        f"<p>Generated {stamp} from <code>ewh_sync.sync_runs</code> and <code>ewh_sync.sync_items</code>.</p>",
        f'<p id="totals">{len(runs)} endpoint sync runs: {totals["planned"]} endpoints planned, '
        f"{totals['sent']} sent, {totals['accepted']} accepted, {totals['failed']} failed; "
        f"{len(segments)} segment imports finished.</p>",
        _figure("Segment sizes over time", plot_segment_sizes(segments), "No segment import recorded yet."),
        _figure("Endpoints changed per run", plot_endpoints_per_run(runs), "No endpoint sync recorded yet."),
        _figure("Failures per run", plot_failures(ledger["failures"], run_ids), "No failure recorded."),
        "<h2>Endpoint sync runs</h2>",
        _table(
            runs,
            [
                "run_id",
                "destination",
                "logical_date",
                "started_at",
                "finished_at",
                "dry_run",
                "endpoints_planned",
                "endpoints_sent",
                "endpoints_accepted",
                "endpoints_failed",
                "status",
            ],
        ),
        "<h2>Segment imports</h2>",
        _table(
            segments,
            ["run_id", "segment_model", "outcome", "rows", "job_status", "attempt_at", "duration_seconds", "reason"],
        ),
        f"<h2>Latest failures (up to {MAX_FAILURES_LISTED})</h2>",
        _table(ledger["latest_failures"], ["run_id", "destination", "item_type", "item_id", "reason", "attempt_at"]),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_sync_report(conn: duckdb.DuckDBPyConnection, path: str | Path, destination: str | None = None) -> Path:
    """Write the HTML sync report for `destination` (None: all) to `path`; return the path.

    Works on an empty warehouse too (the report then says nothing was synced yet). The file is written
    to a temporary sibling and renamed, so a reader never sees half a report.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    content = render_sync_report(load_ledger(conn, destination), destination)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(content, encoding="utf-8")
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    """CLI: open the warehouse read-only (from settings) and write the report; print its path."""
    from engagement_warehouse.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(description="Write the HTML sync report from the sync ledger.")
    parser.add_argument("--out", type=Path, default=default_report_path(settings.local_dir), help="output HTML path")
    parser.add_argument("--destination", default=None, help="only this destination, e.g. pinpoint:<app id>")
    args = parser.parse_args(argv)
    if not Path(settings.duckdb_path).exists():
        print(f"no warehouse at {settings.duckdb_path}: nothing to report", file=sys.stderr)
        return 1
    conn = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        path = write_sync_report(conn, args.out, args.destination)
    finally:
        conn.close()
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
