"""Publish the Data Docs site to S3 (production), since GX 1.x has no S3 store backend.

GX 1.0 removed its cloud store backends (TupleS3StoreBackend and friends), so an S3 site cannot be a
`great_expectations.yml` change any more. The gate builds the site on local disk as usual
(`EWH_DATA_DOCS_DIR`, e.g. a worker's scratch directory) and, when `EWH_DATA_DOCS_URL=s3://bucket/prefix`
is set, uploads the files that build wrote and reports `s3://` links instead of `file://` ones.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PUBLISH_URL_ENV = "EWH_DATA_DOCS_URL"


def publish_url() -> str | None:
    """The S3 URL the site is published to ($EWH_DATA_DOCS_URL), or None to keep it local."""
    url = (os.environ.get(PUBLISH_URL_ENV) or "").strip().rstrip("/")
    if url and not url.startswith("s3://"):
        raise ValueError(f"{PUBLISH_URL_ENV}={url!r} must be an s3:// URL")
    return url or None


def _split(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def publish_data_docs(
    local_dir: Path | str,
    target_url: str,
    *,
    pages: Iterable[Path | str] | None = None,
    s3_client: Any = None,
) -> list[str]:
    """Upload the site under `local_dir` to `target_url` (s3://bucket/prefix); return the uploaded keys.

    With `pages` (local validation pages of this run), only those are uploaded with the site's shared
    files (index.html, the suite pages under expectations/, static assets), not the whole history.
    Static assets (about 4 MB) already present under the target are not uploaded again.
    The client defaults to boto3 with settings.s3_endpoint_url and settings.aws_region.
    """
    if s3_client is None:
        import boto3

        from engagement_warehouse.settings import get_settings

        settings = get_settings()
        s3_client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.aws_region)
    root = Path(local_dir)
    bucket, prefix = _split(target_url)
    static_prefix = f"{prefix}/static/" if prefix else "static/"
    existing_static = {
        item["Key"]
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=static_prefix)
        for item in page.get("Contents", [])
    }
    wanted = None if pages is None else {Path(page).resolve() for page in pages}
    uploaded = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        shared = relative == "index.html" or relative.startswith(("expectations/", "static/"))
        if wanted is not None and not shared and path.resolve() not in wanted:
            continue
        key = f"{prefix}/{relative}" if prefix else relative
        if key in existing_static:
            continue
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        s3_client.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})
        uploaded.append(key)
    return uploaded


def published_url(local_url: str | None, local_dir: Path | str, target_url: str) -> str | None:
    """Map a `file://` Data Docs URL under `local_dir` to its published `s3://` URL."""
    if local_url is None:
        return None
    base = Path(local_dir).resolve().as_uri()
    if not local_url.startswith(base):
        return local_url
    return target_url.rstrip("/") + local_url[len(base) :]
