"""Segment import files: one CSV prefix per segment model and logical date, written through fsspec.

Layout: `<lake>/exports/pinpoint/segments/<segment_model>/<YYYY-MM-DD>/part-00000.csv` (then
`part-00001.csv`, ... when a part would exceed `max_file_bytes`). Pinpoint reads every file under the
prefix, so each part repeats the header. Format, per Pinpoint's import rules: header `Id`, UTF-8 without
BOM, uncompressed, `csv` module quoting, `\\n` line ends, no tabs or line breaks inside values (ids that
contain them are rejected and counted, never written).

Writing the same segment and date again first deletes the folder, so reruns replace, never append. An
empty segment writes nothing (its stale folder is still removed) and must not be imported.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import date
from typing import Any

import duckdb
import fsspec

from engagement_warehouse.destinations.base import SegmentExport
from engagement_warehouse.destinations.export_contract import SegmentModel

log = logging.getLogger(__name__)

SEGMENTS_PREFIX = "exports/pinpoint/segments"
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024  # well under Pinpoint's 1 GB per import job
HEADER = "Id"


def segment_prefix_url(lake_url: str, segment_model: str, logical_date: date) -> str:
    """The prefix URL (with a trailing slash) of a segment's files for one logical date."""
    return f"{lake_url.rstrip('/')}/{SEGMENTS_PREFIX}/{segment_model}/{logical_date.isoformat()}/"


class _PartWriter:
    """Writes rows into size-capped CSV parts under one folder."""

    def __init__(self, fs: Any, folder: str, url: str, max_file_bytes: int) -> None:
        self.fs, self.folder, self.url, self.max_file_bytes = fs, folder, url, max_file_bytes
        self.files: list[str] = []
        self._handle: Any = None
        self._size = 0
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\n")
        self._header = self._line(HEADER)

    def _line(self, value: str) -> bytes:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._csv.writerow([value])
        return self._buffer.getvalue().encode("utf-8")

    def _open_next(self) -> None:
        self.close()
        name = f"part-{len(self.files):05d}.csv"
        self._handle = self.fs.open(f"{self.folder}/{name}", "wb")
        self.files.append(self.url + name)
        self._handle.write(self._header)
        self._size = len(self._header)

    def write(self, value: str) -> None:
        line = self._line(value)
        if len(self._header) + len(line) > self.max_file_bytes:
            raise ValueError(f"max_file_bytes={self.max_file_bytes} cannot hold a single row")
        if self._handle is None or self._size + len(line) > self.max_file_bytes:
            self._open_next()
        self._handle.write(line)
        self._size += len(line)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def write_segment_files(
    conn: duckdb.DuckDBPyConnection,
    segment: SegmentModel,
    lake_url: str,
    logical_date: date,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    fetch_size: int = 50_000,
    storage_options: dict[str, Any] | None = None,
) -> tuple[SegmentExport, int]:
    """Write the distinct member ids of `segment` as CSV parts; return the export and rejected-id count."""
    url = segment_prefix_url(lake_url, segment.model_name, logical_date)
    fs, folder = fsspec.core.url_to_fs(url, **(storage_options or {}))
    folder = folder.rstrip("/")
    if fs.exists(folder):
        fs.rm(folder, recursive=True)
    id_column = '"' + segment.id_column.replace('"', '""') + '"'
    cursor = conn.execute(
        f"select distinct cast({id_column} as varchar) as id from {segment.relation} "
        f"where {id_column} is not null order by id"
    )
    writer = _PartWriter(fs, folder, url, max_file_bytes)
    rows = rejected = 0
    try:
        while chunk := cursor.fetchmany(fetch_size):
            for (value,) in chunk:
                if value == "" or any(ch in value for ch in "\t\r\n"):
                    rejected += 1
                    continue
                if writer._handle is None:
                    fs.makedirs(folder, exist_ok=True)
                writer.write(value)
                rows += 1
    finally:
        writer.close()
    if rejected:
        log.warning("segment %s: %d ids rejected (empty, tab or line break)", segment.model_name, rejected)
    if rows == 0:
        log.info("segment %s is empty for %s: no file written, no import", segment.model_name, logical_date)
    else:
        log.info("segment %s: %d members in %d file(s) under %s", segment.model_name, rows, len(writer.files), url)
    export = SegmentExport(
        segment_model=segment.model_name,
        segment_name=segment.segment_name,
        location=url,
        rows=rows,
        files=tuple(writer.files),
    )
    return export, rejected
