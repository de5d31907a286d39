"""Pinpoint import jobs: create, summarise, and wait synchronously (the Airflow trigger polls async).

Job states: CREATED, PREPARING_FOR_INITIALIZATION, INITIALIZING, PROCESSING, PENDING_JOB, COMPLETING,
FAILING (non-terminal) and COMPLETED, FAILED (terminal). A job is FAILED if any piece failed; a COMPLETED
job can still report `TotalFailures` with the first 100 bad entries in `Failures`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

TERMINAL_STATES = frozenset({"COMPLETED", "FAILED"})
NON_TERMINAL_STATES = frozenset(
    {
        "CREATED",
        "PREPARING_FOR_INITIALIZATION",
        "INITIALIZING",
        "PROCESSING",
        "PENDING_JOB",
        "COMPLETING",
        "FAILING",
    }
)
MAX_FAILURES_REPORTED = 10


class ImportJobTimeout(TimeoutError):
    """The import job did not reach a terminal state in time."""


def create_import_job(
    client: Any,
    application_id: str,
    role_arn: str,
    s3_url: str,
    segment_name: str,
    segment_id: str | None,
) -> dict[str, Any]:
    """Start a CSV import of existing endpoint ids into a segment; return `ImportJobResponse`.

    First run (`segment_id` None): `DefineSegment=True` with `SegmentName`. Later runs: `SegmentId`,
    which makes a new version of the same segment instead of another segment.
    `RegisterEndpoints=False`: the files only hold ids of endpoints that the attribute sync registered.
    """
    request: dict[str, Any] = {
        "Format": "CSV",
        "S3Url": s3_url,
        "RoleArn": role_arn,
        "RegisterEndpoints": False,
    }
    if segment_id:
        request["SegmentId"] = segment_id
    else:
        request["DefineSegment"] = True
        request["SegmentName"] = segment_name
    response = client.create_import_job(ApplicationId=application_id, ImportJobRequest=request)
    return response["ImportJobResponse"]


def summarize_import_job(job: dict[str, Any]) -> dict[str, Any]:
    """A JSON-serialisable summary of an `ImportJobResponse` (for TriggerEvents, XCom and the ledger)."""
    definition = job.get("Definition") or {}
    failures = list(job.get("Failures") or [])
    return {
        "job_id": job.get("Id"),
        "job_status": job.get("JobStatus"),
        "segment_id": definition.get("SegmentId"),
        "segment_name": definition.get("SegmentName"),
        "total_pieces": job.get("TotalPieces"),
        "completed_pieces": job.get("CompletedPieces"),
        "failed_pieces": job.get("FailedPieces"),
        "total_processed": job.get("TotalProcessed"),
        "total_failures": job.get("TotalFailures") or 0,
        "failures": failures[:MAX_FAILURES_REPORTED],
        "creation_date": job.get("CreationDate"),
        "completion_date": job.get("CompletionDate"),
    }


def get_import_job(client: Any, application_id: str, job_id: str) -> dict[str, Any]:
    """One GetImportJob call, summarised. Unknown states are treated as non-terminal (and logged)."""
    job = client.get_import_job(ApplicationId=application_id, JobId=job_id)["ImportJobResponse"]
    summary = summarize_import_job(job)
    status = summary["job_status"]
    if status not in TERMINAL_STATES and status not in NON_TERMINAL_STATES:
        log.warning("import job %s has unknown state %r: still polling", job_id, status)
    return summary


def wait_for_import_job(
    client: Any,
    application_id: str,
    job_id: str,
    poll_interval: float = 5.0,
    timeout: float = 3600.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll GetImportJob until COMPLETED or FAILED; return the summary. Raises ImportJobTimeout."""
    deadline = clock() + timeout
    while True:
        summary = get_import_job(client, application_id, job_id)
        if summary["job_status"] in TERMINAL_STATES:
            return summary
        if clock() >= deadline:
            raise ImportJobTimeout(f"import job {job_id} still {summary['job_status']} after {timeout}s")
        sleep(poll_interval)
