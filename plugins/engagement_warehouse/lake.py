"""The lake: one layout over `file://` and `s3://`, through fsspec.

Layout under the lake URL (the contract; the README documents it):
- `raw/<source>/...`: what producers write (Firehose, Pinpoint exports, partner drops). Read-only for us.
- `staged/<source>/dt=YYYY-MM-DD/hour=HH/*.parquet`: validated, deduplicated rows (zstd Parquet).
- `quarantine/<source>/dt=YYYY-MM-DD/*.jsonl`: refused rows with the object key, line number and reason code.
- `ledger/landing/<source>/*.parquet`: which raw objects have landed (key, size, etag).
- `manifests/landing/<source>/<logical date>/<run id>.json`: per-run landing counts.
- `exports/<destination>/...`: files handed to destinations (import files, dry-run previews).
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import fsspec
import pyarrow.fs as pafs
from fsspec.core import url_to_fs

from engagement_warehouse.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LakeObject:
    """One object in the lake, identified by its key relative to the lake root."""

    key: str
    size: int
    etag: str  # S3 ETag, or the mtime for local files: changes when the object is rewritten (sources/README.md)


class Lake:
    """A lake rooted at a `file://` or `s3://` URL."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        fs, root = url_to_fs(self.url, **(storage_options or {}))
        self.fs: fsspec.AbstractFileSystem = fs
        self.root = root.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> Lake:
        return cls(settings.lake_url, storage_options(settings))

    @property
    def is_local(self) -> bool:
        return self.url.startswith("file://")

    def path(self, key: str) -> str:
        """The filesystem path of `key` (what fsspec and pyarrow take)."""
        return posixpath.join(self.root, key.lstrip("/"))

    def url_of(self, key: str) -> str:
        """The full URL of `key` (what a destination such as Pinpoint's import job reads)."""
        return f"{self.url}/{key.lstrip('/')}"

    def key_of(self, path: str) -> str:
        """Inverse of `path`."""
        path = path.removeprefix("file://").removeprefix("s3://")
        return path[len(self.root) :].lstrip("/")

    def list_objects(self, prefix: str) -> Iterator[LakeObject]:
        """Every object under `prefix`, sorted by key, folder placeholders included (size 0, key ending in /).

        The filesystem's listing cache is dropped first: s3fs reuses cached object info (ETag included) when a
        file is opened, so an object rewritten since the last listing would be listed fresh but opened with its
        old ETag and fail with `FileExpired` (HTTP 412).
        """
        base = self.path(prefix)
        self.fs.invalidate_cache()
        if not self.fs.exists(base):
            return
        found = self.fs.find(base, detail=True, withdirs=False)
        for path in sorted(found):
            info = found[path]
            key = self.key_of(path)
            if info.get("type") == "directory":
                continue
            if info.get("type") not in ("file", None):  # e.g. a symlinked folder on a local lake: not followed
                log.warning("skipping %s: not a regular object (%s)", key, info.get("type"))
                continue
            etag = info.get("ETag") or info.get("etag") or str(info.get("mtime") or info.get("LastModified") or "")
            yield LakeObject(key=key, size=int(info.get("size") or 0), etag=str(etag).strip('"'))

    def arrow_filesystem(self) -> pafs.FileSystem:
        """A pyarrow filesystem over the lake, for datasets (local, or fsspec's S3 wrapped for pyarrow)."""
        if self.is_local:
            return pafs.LocalFileSystem()
        return pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))

    def open(self, key: str, mode: str = "rb") -> IO[Any]:
        if "w" in mode:
            self.fs.makedirs(posixpath.dirname(self.path(key)), exist_ok=True)
        return self.fs.open(self.path(key), mode)

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as handle:
            return handle.read()

    def write_bytes(self, key: str, data: bytes) -> None:
        with self.open(key, "wb") as handle:
            handle.write(data)

    def exists(self, key: str) -> bool:
        return self.fs.exists(self.path(key))

    def remove_prefix(self, prefix: str) -> None:
        """Delete everything under `prefix` (used to rewrite a partition or an export folder idempotently)."""
        path = self.path(prefix)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)


def storage_options(settings: Settings) -> dict[str, Any]:
    """fsspec options for the lake: a custom S3 endpoint (MinIO, moto) when EWH_S3_ENDPOINT_URL is set."""
    if settings.lake_is_local or not settings.s3_endpoint_url:
        return {}
    return {"client_kwargs": {"endpoint_url": settings.s3_endpoint_url, "region_name": settings.aws_region}}
