"""Reading and parsing import-job files the way Pinpoint's CreateImportJob does.

Sources: `s3://bucket/key-or-prefix` (read with a boto3 S3 client, `EWH_S3_ENDPOINT_URL` as its
endpoint when set) and, as a sandbox-only extension, `file:///abs/path` (one file, a folder read
recursively, or a path prefix: every file whose path starts with it, like an S3 prefix).

File rules (from Pinpoint's documentation): CSV or newline-delimited JSON, UTF-8, not compressed,
one format per prefix, at most 1 GB per job. A file that breaks one of these fails its *piece* (an
`ImportFileError`, and the job ends FAILED). A bad *row* (a tab or line break inside a CSV value, a
wrong column count, a non-numeric metric, invalid JSON) is a row failure: counted in TotalFailures
and listed in Failures, while the other rows are imported.

CSV headers use dot notation (`Id`, `Address`, `ChannelType`, `User.UserId`, `User.UserAttributes.<n>`,
`Attributes.<n>`, `Metrics.<n>`, `Demographic.<field>`, `Location.<field>`, ...); a repeated attribute
column carries one value each (a multi-valued attribute).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from engagement_warehouse.sandbox.model import shape, validate_shape

MAX_IMPORT_BYTES = 1024**3
COMPRESSED_MAGIC = (b"\x1f\x8b", b"PK\x03\x04", b"BZh", b"\x28\xb5\x2f\xfd", b"\xfd7zXZ")
COMPRESSED_SUFFIXES = (".gz", ".gzip", ".zip", ".bz2", ".zst", ".xz", ".snappy", ".lz4", ".parquet")
FORMAT_SUFFIXES = {".csv": "CSV", ".json": "JSON", ".jsonl": "JSON", ".ndjson": "JSON"}
TOP_LEVEL_COLUMNS = ("Id", "Address", "ChannelType", "OptOut", "EffectiveDate", "RequestId", "EndpointStatus")
MAP_PREFIXES = {"Attributes.": ("Attributes",), "User.UserAttributes.": ("User", "UserAttributes")}

FileKind = Literal["ids", "user_ids", "endpoints"]


class ImportFileError(Exception):
    """A file-level problem: the piece fails and so does the job."""


@dataclass
class SourceFile:
    """One object read from the import location."""

    name: str
    data: bytes


@dataclass
class ParsedImport:
    """Rows of a job: `items` are EndpointBatchItem-shaped dicts, `failures` the rejected rows."""

    kind: FileKind
    items: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    pieces: int = 0
    size: int = 0


def _file_sources(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    parent = path.parent
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.rglob("*") if p.is_file() and str(p).startswith(str(path)))


def s3_client() -> Any:
    """A boto3 S3 client for the lake: `EWH_S3_ENDPOINT_URL` (e.g. moto) when set, else AWS."""
    import boto3

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.client("s3", endpoint_url=os.environ.get("EWH_S3_ENDPOINT_URL") or None, region_name=region)


def read_source(url: str, max_bytes: int = MAX_IMPORT_BYTES) -> list[SourceFile]:
    """Every file under `url` (s3:// or file://), refusing more than `max_bytes` in total."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        paths = _file_sources(Path(unquote(parsed.path)))
        total = sum(p.stat().st_size for p in paths)
        if total > max_bytes:
            raise ImportFileError(f"The import is {total} bytes; the limit is {max_bytes} bytes per job")
        files = [SourceFile(str(p), p.read_bytes()) for p in paths]
    elif parsed.scheme == "s3":
        client = s3_client()
        bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
        objects = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects.extend(o for o in page.get("Contents", []) if not o["Key"].endswith("/"))
        total = sum(o["Size"] for o in objects)
        if total > max_bytes:
            raise ImportFileError(f"The import is {total} bytes; the limit is {max_bytes} bytes per job")
        files = [
            SourceFile(f"s3://{bucket}/{o['Key']}", client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
            for o in sorted(objects, key=lambda o: o["Key"])
        ]
    else:
        raise ImportFileError(f"Unsupported S3Url {url!r}")
    if not files:
        raise ImportFileError(f"No files found at {url}")
    return files


def _file_format(source: SourceFile, declared: str) -> str:
    lower = source.name.lower()
    if lower.endswith(COMPRESSED_SUFFIXES) or source.data.startswith(COMPRESSED_MAGIC):
        raise ImportFileError(f"{source.name}: compressed files are not supported")
    return FORMAT_SUFFIXES.get(Path(lower).suffix, declared)


def _column_target(column: str) -> tuple[tuple[str, ...], str]:
    """Where a CSV column goes in an EndpointBatchItem: (path, value kind)."""
    if column in TOP_LEVEL_COLUMNS:
        return (column,), "string"
    if column == "User.UserId":
        return ("User", "UserId"), "string"
    for prefix, path in MAP_PREFIXES.items():
        if column.startswith(prefix) and len(column) > len(prefix):
            return (*path, column[len(prefix) :]), "list"
    if column.startswith("Metrics.") and len(column) > len("Metrics."):
        return ("Metrics", column[len("Metrics.") :]), "number"
    for group in ("Demographic", "Location"):
        if column.startswith(group + "."):
            name = column[len(group) + 1 :]
            member = shape(f"Endpoint{group}").members.get(name)
            if member is not None:
                return (group, name), "number" if member.type_name == "double" else "string"
    raise ImportFileError(f"Unknown CSV column {column!r}")


def _set(item: dict[str, Any], path: tuple[str, ...], value: Any, kind: str) -> None:
    node = item
    for key in path[:-1]:
        node = node.setdefault(key, {})
    if kind == "list":
        node.setdefault(path[-1], []).append(value)
    else:
        node[path[-1]] = value


def _parse_csv(source: SourceFile, text: str, out: ParsedImport) -> set[str]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise ImportFileError(f"{source.name}: empty file")
    targets = [_column_target(c) for c in header]
    singles = [c for c, (_, kind) in zip(header, targets, strict=True) if kind != "list"]
    if len(singles) != len(set(singles)):
        raise ImportFileError(f"{source.name}: a non-attribute column is repeated")
    for row in reader:
        ref = f"{source.name}:{reader.line_num}"
        if not row or row == [""]:
            continue
        if len(row) != len(header):
            out.failures.append(f"{ref}: expected {len(header)} values, found {len(row)}")
            continue
        if any("\t" in v for v in row):
            out.failures.append(f"{ref}: a value contains a tab")
            continue
        if any("\n" in v or "\r" in v for v in row):
            out.failures.append(f"{ref}: a value contains a line break")
            continue
        item: dict[str, Any] = {}
        error = None
        for value, (path, kind) in zip(row, targets, strict=True):
            if value == "":
                continue
            if kind == "number":
                try:
                    number: Any = float(value)
                except ValueError:
                    error = f"{ref}: {'.'.join(path)} is not a number: {value!r}"
                    break
                _set(item, path, number, kind)
            else:
                _set(item, path, value, kind)
        if error:
            out.failures.append(error)
        else:
            out.items.append((ref, item))
    return set(header)


def _parse_json(source: SourceFile, text: str, out: ParsedImport) -> set[str]:
    keys: set[str] = set()
    item_shape = shape("EndpointBatchItem")
    for number, line in enumerate(text.split("\n"), start=1):
        ref = f"{source.name}:{number}"
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            out.failures.append(f"{ref}: invalid JSON ({exc})")
            continue
        errors = validate_shape(item, item_shape, "Endpoint")
        if errors:
            out.failures.append(f"{ref}: {'; '.join(errors)}")
            continue
        for key, value in item.items():
            if key == "User" and isinstance(value, dict):
                keys.update(f"User.{k}" for k in value)
            else:
                keys.add(key)
        out.items.append((ref, item))
    return keys


def parse_import(files: list[SourceFile], declared_format: str) -> ParsedImport:
    """Parse every file of a job into endpoint items, enforcing Pinpoint's file rules."""
    formats = {_file_format(f, declared_format) for f in files}
    if len(formats) > 1:
        raise ImportFileError("The import location mixes CSV and JSON files: use one format per prefix")
    if formats != {declared_format}:
        raise ImportFileError(f"The files are {formats.pop()} but the job's Format is {declared_format}")
    out = ParsedImport(kind="endpoints", pieces=len(files), size=sum(len(f.data) for f in files))
    columns: set[str] = set()
    for source in files:
        try:
            text = source.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"{source.name}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
        if declared_format == "CSV":
            columns |= _parse_csv(source, text, out)
        else:
            columns |= _parse_json(source, text, out)
    if columns == {"Id"}:
        out.kind = "ids"
    elif columns == {"User.UserId"}:
        out.kind = "user_ids"
    return out
