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
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson
import pyarrow.parquet as pq

MAX_LINE_BYTES = 1024 * 1024  # a line over 1 MB is refused: no producer of ours writes one
# A staged text value over this many UTF-8 bytes is refused: it is Redshift's widest VARCHAR, and one longer value
# would fail the COPY of its whole partition. Every target gets the same rows, so the rule applies everywhere.
MAX_FIELD_BYTES = 65535
QUARANTINE_TEXT_LIMIT = 64 * 1024  # how much of a refused line the quarantine keeps
GZIP_MAGIC = b"\x1f\x8b"


REASON_CODES: dict[str, str] = {
    # whole object (every line of it is quarantined with this reason)
    "unexpected_path": "the key is outside the source's raw layout (raw/<source>/YYYY/MM/DD[/HH]/...)",
    "truncated_gzip": "the gzip stream ends before its end marker; the lines before the cut are landed",
    "unreadable_parquet": "the object is not a readable Parquet file",
    "wrong_encoding": "a CSV does not decode with the encoding its partner contract declares",
    "missing_required_column": "a CSV header lacks a column the contract requires",
    "plaintext_email_in_hashed_column": "a plaintext email where the contract expects SHA-256 hex (never hashed here)",
    # one line or record
    "line_too_long": "a line over MAX_LINE_BYTES (1 MiB)",
    "field_too_long": "a field whose staged text is over MAX_FIELD_BYTES (65,535 bytes, Redshift's widest VARCHAR)",
    "not_utf8": "a JSON line that is not valid UTF-8",
    "malformed_json": "a line that is not RFC 8259 JSON (NaN, lone surrogates and truncation included)",
    "not_an_object": "a JSON line that is valid JSON but not an object",
    "malformed_csv": "a CSV row the csv module cannot parse",
    "wrong_field_count": "a CSV row with more or fewer fields than the header",
    "missing_required_field": "a required field is absent, null or empty (ids included)",
    "missing_identity": "a clickstream event with neither anonymousId nor userId",
    "wrong_type": "a field of the wrong JSON or contract type",
    "wrong_value": "a field outside its allowed values (e.g. OptOut not ALL/NONE)",
    "bad_timestamp": "a timestamp that is neither ISO-8601 nor epoch seconds/milliseconds",
    "event_in_future": "an event time later than its receipt (or its delivery hour) plus the source's tolerance",
    "unknown_event_type": "a clickstream type outside the Segment spec (track, page, screen, identify, group, alias)",
    "unknown_channel_type": "an endpoint ChannelType Pinpoint does not define",
    "address_not_e164": "an SMS or VOICE endpoint address that is not E.164",
    "key_not_sha256": "a partner key declared as SHA-256 hex that is not 64 hex characters",
}
"""Every quarantine reason code and what it means. Codes are stable: dashboards and alerts key on them, so a new
failure gets a new code and an existing code never changes meaning. sources/README.md lists them too."""


class RowError(Exception):
    """A row (or an object) refused for a reason code, with a human-readable detail."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ObjectError(RowError):
    """The whole object is refused (e.g. plaintext emails in a hashed column): every record is quarantined."""


def check_field_sizes(row: dict[str, Any]) -> None:
    """Refuse a row holding a text value over MAX_FIELD_BYTES UTF-8 bytes (reason `field_too_long`)."""
    for name, value in row.items():
        if isinstance(value, str) and len(value) * 4 > MAX_FIELD_BYTES:  # cheap bound first: <= 4 bytes a char
            size = len(value.encode("utf-8"))
            if size > MAX_FIELD_BYTES:
                raise RowError("field_too_long", f"{name} is {size:,} bytes; the limit is {MAX_FIELD_BYTES:,}")


@dataclass(frozen=True)
class RawRecord:
    """One record read from an object, decoded or not."""

    number: int  # 1-based line (or record) number inside the object
    text: str  # the original line or record, as far as it could be decoded
    record: dict[str, Any] | None
    error: RowError | None = None


def peekable(handle: IO[bytes]) -> io.BufferedReader:
    """`handle` with `peek()`, so a format can be sniffed by its magic bytes (s3fs file handles have none)."""
    if isinstance(handle, io.BufferedReader):
        return handle
    return io.BufferedReader(handle)  # type: ignore[arg-type]


def _is_gzip(handle: io.BufferedReader) -> bool:
    return handle.peek(2)[:2] == GZIP_MAGIC


def iter_json_lines(handle: IO[bytes]) -> Iterator[RawRecord]:
    """Decode newline-delimited JSON objects from `handle`, gzip or plain, tolerating CRLF and no final newline.

    Lines are parsed with orjson (strict RFC 8259: `NaN`, `Infinity` and lone surrogate escapes are
    `malformed_json`; integers beyond 64 bits become floats, which no JSON producer of ours writes).
    """
    buffered = peekable(handle)
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
            record = orjson.loads(stripped)
        except orjson.JSONDecodeError as error:
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
            yield RawRecord(number, orjson.dumps(row, default=str, option=orjson.OPT_SORT_KEYS).decode(), row)


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
