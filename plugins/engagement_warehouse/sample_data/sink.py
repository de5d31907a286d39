"""Writes raw objects into the lake through fsspec, byte-for-byte reproducibly.

The lake URL may be `file:///abs/path` or `s3://bucket/prefix`; for s3 the endpoint comes from
`EWH_S3_ENDPOINT_URL` (a local moto server, MinIO...) when it is set. Gzip members are written with
`mtime=0` and no file name in the header, so the same content always gives the same bytes.
"""

from __future__ import annotations

import gzip
import os
import posixpath
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import IO, Any

import fsspec
from fsspec.core import url_to_fs

GZIP_LEVEL = 3  # twice as fast as the default 6 on JSON lines, about 25 % larger


def lake_filesystem(lake_url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """Return the filesystem and root path for `lake_url` (trailing slash removed)."""
    options: dict[str, Any] = {}
    if lake_url.startswith("s3://"):
        endpoint = (os.environ.get("EWH_S3_ENDPOINT_URL") or "").strip()
        if endpoint:
            options["client_kwargs"] = {"endpoint_url": endpoint}
    elif lake_url.startswith("file://"):
        options["auto_mkdir"] = True
    fs, root = url_to_fs(lake_url.rstrip("/"), **options)
    return fs, root.rstrip("/")


def gzip_bytes(data: bytes) -> bytes:
    """Gzip `data` deterministically: mtime 0, no file name, fixed level."""
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


class LakeSink:
    """Puts whole objects under the lake root and remembers what it wrote (keys relative to the root).

    `put_lines` encodes, compresses and uploads on one background thread (zlib and file or network I/O
    release the GIL, so this overlaps with generating the next hour) with at most `max_in_flight` objects
    queued, which bounds memory. Call `close()` (or use the sink as a context manager) to wait for the
    uploads and surface their errors. The bytes written do not depend on the thread's timing.
    """

    def __init__(self, lake_url: str, max_in_flight: int = 2) -> None:
        self.lake_url = lake_url.rstrip("/")
        self.fs, self.root = lake_filesystem(lake_url)
        self.written: list[str] = []
        self.bytes_written = 0
        self._max_in_flight = max_in_flight
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ewh-sample-sink")
        self._in_flight: deque[Future[int]] = deque()

    def __enter__(self) -> LakeSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _write(self, key: str, data: bytes) -> int:
        path = posixpath.join(self.root, key)
        with self.fs.open(path, "wb") as handle:
            handle.write(data)
        return len(data)

    def _encode_and_write(self, key: str, lines: list[str], compress: bool) -> int:
        data = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
        return self._write(key, gzip_bytes(data) if compress else data)

    def _settle(self, keep: int) -> None:
        while len(self._in_flight) > keep:
            self.bytes_written += self._in_flight.popleft().result()

    def put(self, key: str, data: bytes) -> None:
        """Write `data` to `<root>/<key>` now, replacing any object of that name."""
        self._settle(0)
        self.bytes_written += self._write(key, data)
        self.written.append(key)

    @contextmanager
    def open(self, key: str) -> Iterator[IO[bytes]]:
        """Stream an (uncompressed) object to `<root>/<key>`: for files too large to hold in memory."""
        self._settle(0)
        path = posixpath.join(self.root, key)
        with self.fs.open(path, "wb") as handle:
            yield handle
            self.bytes_written += handle.tell()
        self.written.append(key)

    def put_lines(self, key: str, lines: list[str], compress: bool) -> None:
        """Queue newline-terminated UTF-8 lines for `<root>/<key>`, gzipped when `compress`.

        The caller must not modify `lines` afterwards.
        """
        self._settle(self._max_in_flight - 1)
        self._in_flight.append(self._executor.submit(self._encode_and_write, key, lines, compress))
        self.written.append(key)

    def close(self) -> None:
        """Wait for queued objects and raise the first upload error, if any."""
        try:
            self._settle(0)
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)
