"""Streaming readers for raw objects: JSON lines (gzip or plain), Parquet and CSV.

Each reader yields `RawRecord`s: the record number inside the object, the original text (for quarantine), and
either the decoded record or a `RowError` naming why it could not be decoded. Readers never hold a whole
object in memory beyond one Parquet row group.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import pyarrow.parquet as pq

MAX_LINE_BYTES = 1024 * 1024  # a line over 1 MB is refused: no producer of ours writes one
QUARANTINE_TEXT_LIMIT = 64 * 1024  # how much of a refused line the quarantine keeps
GZIP_MAGIC = b"\x1f\x8b"


class RowError(Exception):
    """A row (or an object) refused for a reason code, with a human-readable detail."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ObjectError(RowError):
    """The whole object is refused (e.g. plaintext emails in a hashed column): every record is quarantined."""


@dataclass(frozen=True)
class RawRecord:
    """One record read from an object, decoded or not."""

    number: int  # 1-based line (or record) number inside the object
    text: str  # the original line or record, as far as it could be decoded
    record: dict[str, Any] | None
    error: RowError | None = None


def _is_gzip(handle: IO[bytes]) -> bool:
    head = handle.peek(2)[:2] if hasattr(handle, "peek") else b""
    return head == GZIP_MAGIC


def iter_json_lines(handle: IO[bytes]) -> Iterator[RawRecord]:
    """Decode newline-delimited JSON objects from `handle`, gzip or plain, tolerating CRLF and no final newline."""
    buffered = handle if hasattr(handle, "peek") else io.BufferedReader(handle)  # type: ignore[arg-type]
    stream: IO[bytes] = gzip.GzipFile(fileobj=buffered) if _is_gzip(buffered) else buffered
    number = 0
    while True:
        try:
            line = stream.readline(MAX_LINE_BYTES + 1)
        except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as error:
            number += 1
            yield RawRecord(number, "", None, RowError("truncated_gzip", f"object ends mid-stream: {error}"))
            return
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            number += 1
            text = line[:QUARANTINE_TEXT_LIMIT].decode("utf-8", "replace")
            yield RawRecord(number, text, None, RowError("line_too_long", f"line over {MAX_LINE_BYTES} bytes"))
            _skip_rest_of_line(stream)
            continue
        stripped = line.strip()
        if not stripped:
            continue
        number += 1
        try:
            text = stripped.decode("utf-8")
        except UnicodeDecodeError as error:
            yield RawRecord(number, stripped.decode("utf-8", "replace"), None, RowError("not_utf8", str(error)))
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            yield RawRecord(number, text, None, RowError("malformed_json", error.msg))
            continue
        if not isinstance(record, dict):
            yield RawRecord(number, text, None, RowError("not_an_object", type(record).__name__))
            continue
        yield RawRecord(number, text, record)


def _skip_rest_of_line(stream: IO[bytes]) -> None:
    while True:
        chunk = stream.readline(MAX_LINE_BYTES)
        if not chunk or chunk.endswith(b"\n"):
            return


def iter_parquet_records(handle: IO[bytes], batch_size: int = 10_000) -> Iterator[RawRecord]:
    """Rows of a Parquet object as dicts, one row group batch at a time (Firehose record-format conversion)."""
    try:
        parquet = pq.ParquetFile(handle)
    except Exception as error:  # pyarrow raises several types for a corrupt file
        yield RawRecord(1, "", None, RowError("unreadable_parquet", str(error)[:200]))
        return
    number = 0
    for batch in parquet.iter_batches(batch_size=batch_size):
        for row in batch.to_pylist():
            number += 1
            yield RawRecord(number, json.dumps(row, default=str, sort_keys=True), row)


def iter_csv_records(handle: IO[bytes], encoding: str, delimiter: str) -> Iterator[tuple[list[str], RawRecord]]:
    """Rows of a CSV object as dicts keyed by the header, decoding `encoding` and dropping a UTF-8 BOM.

    Yields `(header, record)`; quoted delimiters, quotes and CRLF are handled by the csv module. A row with
    more or fewer fields than the header is refused with `wrong_field_count`.
    """
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    text_stream = io.TextIOWrapper(handle, encoding=codec, errors="strict", newline="")
    reader = csv.reader(text_stream, delimiter=delimiter)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    except UnicodeDecodeError as error:
        raise RowError("wrong_encoding", f"not {encoding}: {error}") from error
    number = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as error:
            raise RowError("wrong_encoding", f"not {encoding}: {error}") from error
        except csv.Error as error:
            number += 1
            yield header, RawRecord(number, "", None, RowError("malformed_csv", str(error)))
            continue
        if not fields or all(not field.strip() for field in fields):
            continue
        number += 1
        text = delimiter.join(fields)
        if len(fields) != len(header):
            detail = f"{len(fields)} fields, header has {len(header)}"
            yield header, RawRecord(number, text, None, RowError("wrong_field_count", detail))
            continue
        yield header, RawRecord(number, text, dict(zip(header, fields, strict=True)))
