"""The HTML sync report, on a small ledger written with the real ledger functions."""

from __future__ import annotations

import base64
import re
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from engagement_warehouse.destinations import ledger
from engagement_warehouse.destinations.base import ItemOutcome, Outcome
from engagement_warehouse.reporting.sync_report import failure_category, main, write_sync_report
from engagement_warehouse.settings import get_settings

DEST = "pinpoint:app-1"
OTHER = "pinpoint:app-2"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def endpoint_run(conn, run_id: str, day: int, planned: int, accepted: int, failed: int, destination: str = DEST):
    at = datetime(2026, 11, day, 6, 0)
    run = ledger.SyncRun(run_id, destination, "endpoints", date(2026, 11, day), at, False, at, planned, planned)
    run.endpoints_accepted, run.endpoints_failed, run.status = accepted, failed, "partial" if failed else "succeeded"
    ledger.write_run(conn, run)
    outcomes = [ItemOutcome(f"ep-{i}", Outcome.ACCEPTED) for i in range(accepted)]
    outcomes += [
        ItemOutcome(f"ep-x{i}", Outcome.FAILED, "TooManyRequestsException (HTTP 429): Too many requests")
        for i in range(failed)
    ]
    ledger.write_endpoint_items(conn, run_id, destination, outcomes, at)


def segment_import(conn, run_id: str, day: int, rows: int, outcome: str = "accepted", reason: str | None = None):
    at = datetime(2026, 11, day, 6, 30)
    ledger.write_segment_item(conn, run_id, DEST, "seg_gold", "started", at, rows=rows, job_status="CREATED")
    ledger.write_segment_item(conn, run_id, DEST, "seg_gold", outcome, at, reason=reason, job_status="COMPLETED")


@pytest.fixture
def conn(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    endpoint_run(connection, "run-20", 20, planned=100, accepted=100, failed=0)
    endpoint_run(connection, "run-21", 21, planned=30, accepted=25, failed=5)
    endpoint_run(connection, "run-22", 22, planned=0, accepted=0, failed=0)
    endpoint_run(connection, "other-21", 21, planned=7, accepted=7, failed=0, destination=OTHER)
    ledger.write_endpoint_items(
        connection,
        "run-22",
        DEST,
        [ItemOutcome("ep-long", Outcome.FAILED, "refused: Attributes.tier value longer than 100 characters")],
        datetime(2026, 11, 22, 6, 0),
    )
    segment_import(connection, "run-20", 20, rows=40)
    segment_import(connection, "run-21", 21, rows=55, outcome="failed", reason="job FAILED: bad file")
    segment_import(connection, "run-22", 22, rows=61)
    yield connection
    connection.close()


def images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)]


def test_report_has_the_three_plots_and_the_right_counts(conn, tmp_path: Path):
    path = write_sync_report(conn, tmp_path / "reports" / "sync_report.html", destination=DEST)
    text = path.read_text(encoding="utf-8")
    pngs = images(text)
    assert len(pngs) == 3 and all(p.startswith(PNG_MAGIC) and len(p) > 2000 for p in pngs)
    for title in ("Segment sizes over time", "Endpoints changed per run", "Failures per run"):
        assert f'alt="{title}"' in text
    totals = re.search(r'<p id="totals">(.*?)</p>', text).group(1)
    assert totals == (
        "3 endpoint sync runs: 130 endpoints planned, 130 sent, 125 accepted, 5 failed; 3 segment imports finished."
    )
    assert "other-21" not in text  # other destination filtered out
    assert text.count("TooManyRequestsException (HTTP 429)") == 5  # each failed endpoint listed
    assert "refused: Attributes.tier value longer than 100 characters" in text
    assert "job FAILED: bad file" in text
    assert not (tmp_path / "reports" / "sync_report.html.partial").exists()


def test_all_destinations_by_default(conn, tmp_path: Path):
    text = write_sync_report(conn, tmp_path / "all.html").read_text(encoding="utf-8")
    assert "4 endpoint sync runs: 137 endpoints planned" in text
    assert "other-21" in text


def test_empty_warehouse_gives_a_report_without_plots(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "empty.duckdb"))
    text = write_sync_report(connection, tmp_path / "r.html").read_text(encoding="utf-8")
    connection.close()
    assert images(text) == []
    assert "No endpoint sync recorded yet." in text and "0 endpoint sync runs" in text


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("refused: value too long", "refused"),
        ("TooManyRequestsException (HTTP 429): slow down", "TooManyRequestsException"),
        ("bulk import job 1a2b FAILED with 3 failures (state not committed), first: x", "bulk import job failed"),
        ("job FAILED: no failure listed", "import job FAILED"),
        ("timed out while job was PROCESSING", "import timed out"),
        (None, "unknown"),
    ],
)
def test_failure_categories(reason, category):
    assert failure_category(reason) == category


def test_cli_reads_the_warehouse_read_only_from_settings(conn, tmp_path: Path, monkeypatch, capsys):
    conn.close()  # the warehouse file stays; the CLI opens it read-only
    monkeypatch.setenv("EWH_LOCAL_DIR", str(tmp_path / "local"))
    monkeypatch.setenv("EWH_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    get_settings.cache_clear()
    try:
        assert main([]) == 0
        default = tmp_path / "local" / "reports" / "sync_report.html"
        assert capsys.readouterr().out.strip() == str(default)
        assert len(images(default.read_text(encoding="utf-8"))) == 3
        out = tmp_path / "custom.html"
        assert main(["--out", str(out), "--destination", OTHER]) == 0
        assert "1 endpoint sync runs: 7 endpoints planned" in out.read_text(encoding="utf-8")
    finally:
        get_settings.cache_clear()
