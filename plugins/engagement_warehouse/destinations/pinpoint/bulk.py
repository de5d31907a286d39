"""The bulk path: one endpoint import job instead of thousands of UpdateEndpointsBatch calls.

At 2 requests/s of 100 endpoints, a million changed endpoints take about 83 minutes through the batch
API; one import job takes minutes. Above `threshold` planned endpoints (opt-in), the plan is written as
newline-delimited JSON `EndpointBatchItem`s (the same payloads and pre-flight validation as the batch
path) to `<lake>/exports/pinpoint/endpoints/<YYYY-MM-DD>/part-NNNNN.json` and imported with
CreateImportJob (Format JSON, RegisterEndpoints true, no segment); the call then waits for the job
(synchronously, polling GetImportJob).

All or nothing: the job's `Failures` list holds only the first 100 bad entries and does not name the
endpoint ids reliably, so the synced state is committed for every sent endpoint only when the job is
COMPLETED with `TotalFailures == 0`. Otherwise every sent endpoint is recorded as failed (with the job's
first failures) and the next run plans them again. A rerun re-imports the same payloads: imports
overwrite, so that is harmless.

The bulk path declines (and the batch path runs) when the files exceed `max_job_bytes` (1 GB per job).
Assumption, to confirm on AWS: an empty list in an import file clears a custom attribute as it does
through UpdateEndpointsBatch.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import fsspec

from engagement_warehouse.destinations.base import BulkResult, EndpointRecord, ItemOutcome, Outcome
from engagement_warehouse.destinations.pinpoint.jobs import wait_for_import_job
from engagement_warehouse.destinations.pinpoint.payload import (
    PayloadLimits,
    build_endpoint_item,
    validate_item,
)

log = logging.getLogger(__name__)

ENDPOINTS_PREFIX = "exports/pinpoint/endpoints"
MAX_JOB_BYTES = 1024**3
DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024


def endpoints_prefix_url(lake_url: str, logical_date: date) -> str:
    """The prefix URL (trailing slash) of the endpoint import files for one logical date."""
    return f"{lake_url.rstrip('/')}/{ENDPOINTS_PREFIX}/{logical_date.isoformat()}/"


class PinpointBulkImport:
    """`BulkPath` for Pinpoint: JSON-lines files + one CreateImportJob, waited for synchronously."""

    def __init__(
        self,
        client: Any,
        application_id: str,
        role_arn: str,
        lake_url: str,
        logical_date: date,
        *,
        threshold: int = 50_000,
        limits: PayloadLimits | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_job_bytes: int = MAX_JOB_BYTES,
        poll_interval: float = 10.0,
        timeout: float = 4 * 3600.0,
        storage_options: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.application_id = application_id
        self.role_arn = role_arn
        self.url = endpoints_prefix_url(lake_url, logical_date)
        self.threshold = threshold
        self.limits = limits or PayloadLimits()
        self.max_file_bytes = max_file_bytes
        self.max_job_bytes = max_job_bytes
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.storage_options = storage_options or {}
        self.sleep = sleep

    def _write(self, records: Iterable[EndpointRecord], refused: list[ItemOutcome]) -> tuple[int, int]:
        """Write the valid payloads as JSON-lines parts; return (items written, bytes written)."""
        fs, folder = fsspec.core.url_to_fs(self.url, **self.storage_options)
        folder = folder.rstrip("/")
        if fs.exists(folder):
            fs.rm(folder, recursive=True)
        fs.makedirs(folder, exist_ok=True)
        handle, part_bytes, parts, items, total = None, 0, 0, 0, 0
        try:
            for record in records:
                try:
                    item, _ = build_endpoint_item(record)
                except (TypeError, ValueError) as error:
                    refused.append(ItemOutcome(record.endpoint_id, Outcome.FAILED, f"refused: {error}"))
                    continue
                problems = validate_item(item, self.limits)
                if problems:
                    reason = "refused: " + "; ".join(problems)
                    refused.append(ItemOutcome(record.endpoint_id, Outcome.FAILED, reason))
                    continue
                line = (json.dumps(item, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
                if handle is None or part_bytes + len(line) > self.max_file_bytes:
                    if handle is not None:
                        handle.close()
                    handle = fs.open(f"{folder}/part-{parts:05d}.json", "wb")
                    parts, part_bytes = parts + 1, 0
                handle.write(line)
                part_bytes += len(line)
                total += len(line)
                items += 1
        finally:
            if handle is not None:
                handle.close()
        return items, total

    def load(self, records: Iterable[EndpointRecord]) -> BulkResult | None:
        """Write the files, run one import job, wait; None if the files are too big for one job."""
        refused: list[ItemOutcome] = []
        items, total = self._write(records, refused)
        if total > self.max_job_bytes:
            fs, folder = fsspec.core.url_to_fs(self.url, **self.storage_options)
            fs.rm(folder.rstrip("/"), recursive=True)
            log.warning("bulk import of %d bytes exceeds %d per job: using batches", total, self.max_job_bytes)
            return None
        if items == 0:
            return BulkResult(accepted=True, refused=refused, requests=0)
        job = self.client.create_import_job(
            ApplicationId=self.application_id,
            ImportJobRequest={
                "Format": "JSON",
                "S3Url": self.url,
                "RoleArn": self.role_arn,
                "RegisterEndpoints": True,
            },
        )["ImportJobResponse"]
        log.info("bulk import job %s started: %d endpoints, %d bytes under %s", job["Id"], items, total, self.url)
        summary = wait_for_import_job(
            self.client, self.application_id, job["Id"], self.poll_interval, self.timeout, sleep=self.sleep
        )
        ok = summary["job_status"] == "COMPLETED" and not summary["total_failures"]
        reason = None
        if not ok:
            first = "; ".join(summary["failures"][:3]) or "no failure listed"
            reason = (
                f"bulk import job {summary['job_id']} {summary['job_status']} with "
                f"{summary['total_failures']} failures (state not committed), first: {first}"
            )
            log.warning(reason)
        return BulkResult(accepted=ok, refused=refused, requests=1, reason=reason)
