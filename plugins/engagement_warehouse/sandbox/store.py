"""The sandbox's state in one SQLite file, and read helpers for tests and run summaries.

Tables: apps, endpoints (full EndpointResponse JSON), attribute_names (the per-app custom attribute
registry that the 250-name quota counts), segments (+ segment_versions and segment_members per
version), import_jobs, export_jobs (full job JSON) and request_log (one row per Pinpoint request:
timestamp, operation, HTTP status, item count, error code), so that a test can assert, for example,
that an export made zero UpdateEndpointsBatch calls.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
create table if not exists apps (
    app_id text primary key, name text not null, created text not null
);
create table if not exists endpoints (
    app_id text not null, endpoint_id text not null, user_id text, channel_type text, address text,
    status text, body text not null, created text not null, updated text not null,
    primary key (app_id, endpoint_id)
);
create index if not exists endpoints_user on endpoints (app_id, user_id);
create index if not exists endpoints_address on endpoints (app_id, channel_type, address);
create table if not exists attribute_names (
    app_id text not null, kind text not null, name text not null, primary key (app_id, kind, name)
);
create table if not exists segments (
    app_id text not null, segment_id text not null, name text, segment_type text not null,
    version integer not null, body text not null, primary key (app_id, segment_id)
);
create table if not exists segment_versions (
    app_id text not null, segment_id text not null, version integer not null, body text not null,
    primary key (app_id, segment_id, version)
);
create table if not exists segment_members (
    app_id text not null, segment_id text not null, version integer not null, endpoint_id text not null,
    primary key (app_id, segment_id, version, endpoint_id)
);
create table if not exists import_jobs (
    app_id text not null, job_id text not null, status text not null, step integer not null,
    body text not null, created text not null, primary key (app_id, job_id)
);
create table if not exists export_jobs (
    app_id text not null, job_id text not null, status text not null, step integer not null,
    body text not null, created text not null, primary key (app_id, job_id)
);
create table if not exists request_log (
    id integer primary key autoincrement, ts text not null, operation text not null, method text not null,
    path text not null, app_id text, status integer not null, item_count integer, error_code text
);
"""

TABLES = (
    "apps",
    "endpoints",
    "attribute_names",
    "segments",
    "segment_versions",
    "segment_members",
    "import_jobs",
    "export_jobs",
    "request_log",
)


def connect(db_path: str | Path) -> sqlite3.Connection:
    """Open (and create if needed) the sandbox database, in WAL mode so readers never block the server."""
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(db_path), check_same_thread=False, timeout=10.0)
    conn.row_factory = sqlite3.Row
    conn.execute("pragma journal_mode=wal")
    conn.executescript(SCHEMA)
    conn.commit()
    return conn


class SandboxStore:
    """Read-only view of a sandbox database (safe to use while the server runs)."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = connect(self.db_path)
        try:
            yield conn
        finally:
            conn.close()

    def _bodies(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with self._conn() as conn:
            return [json.loads(row["body"]) for row in conn.execute(sql, args)]

    def endpoints(self, app_id: str) -> list[dict[str, Any]]:
        """Every endpoint of `app_id` as an EndpointResponse dict, ordered by id."""
        return self._bodies("select body from endpoints where app_id = ? order by endpoint_id", app_id)

    def endpoint(self, app_id: str, endpoint_id: str) -> dict[str, Any] | None:
        """One endpoint as an EndpointResponse dict, or None."""
        found = self._bodies("select body from endpoints where app_id = ? and endpoint_id = ?", app_id, endpoint_id)
        return found[0] if found else None

    def segments(self, app_id: str) -> list[dict[str, Any]]:
        """Every segment of `app_id` (latest version) as a SegmentResponse dict."""
        return self._bodies("select body from segments where app_id = ? order by rowid", app_id)

    def segment_members(self, app_id: str, segment_id: str, version: int | None = None) -> list[str]:
        """Endpoint ids in an imported segment's `version` (default: its latest version), sorted."""
        with self._conn() as conn:
            if version is None:
                row = conn.execute(
                    "select version from segments where app_id = ? and segment_id = ?", (app_id, segment_id)
                ).fetchone()
                if row is None:
                    return []
                version = row["version"]
            rows = conn.execute(
                "select endpoint_id from segment_members where app_id = ? and segment_id = ? and version = ?"
                " order by endpoint_id",
                (app_id, segment_id, version),
            )
            return [r["endpoint_id"] for r in rows]

    def import_jobs(self, app_id: str) -> list[dict[str, Any]]:
        """Every import job of `app_id` as an ImportJobResponse dict, oldest first."""
        return self._bodies("select body from import_jobs where app_id = ? order by rowid", app_id)

    def export_jobs(self, app_id: str) -> list[dict[str, Any]]:
        """Every export job of `app_id` as an ExportJobResponse dict, oldest first."""
        return self._bodies("select body from export_jobs where app_id = ? order by rowid", app_id)

    def calls(self, operation: str | None = None) -> list[dict[str, Any]]:
        """Request-log rows (id, ts, operation, method, path, app_id, status, item_count, error_code)."""
        sql = "select * from request_log"
        args: tuple[Any, ...] = ()
        if operation is not None:
            sql += " where operation = ?"
            args = (operation,)
        with self._conn() as conn:
            return [dict(row) for row in conn.execute(sql + " order by id", args)]

    def call_count(self, operation: str | None = None, status: int | None = None) -> int:
        """How many requests were logged, optionally for one operation and/or one HTTP status."""
        rows = self.calls(operation)
        return sum(1 for row in rows if status is None or row["status"] == status)
