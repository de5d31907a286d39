"""`PinpointDestination`: the `Destination` implementation for Amazon Pinpoint.

Endpoints go through UpdateEndpointsBatch: pre-flight validation (refused items never reach the API),
batching (<= 100 items and <= 7 MB per request), client-side pacing (default 2 requests/s) and
botocore's retries (configured on the client, see `client.py`). A batch counts as accepted only on
HTTP 202. A `ClientError` that survives botocore's retries marks the batch's items failed and the sync
goes on with the next batch; the failed items were not committed, so the next run retries them. Any
other exception (connection lost after retries, a bug) propagates: the caller has already committed the
batches before it, so a rerun resumes exactly where this one stopped.

Above a configurable number of changed endpoints, `bulk.py` can load the whole plan with one import job
instead (opt-in: `sync_endpoint_attributes(..., bulk_threshold=N, import_role_arn=...)`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from engagement_warehouse.destinations.base import (
    BatchResult,
    EndpointRecord,
    ItemOutcome,
    Outcome,
    SegmentExport,
    SegmentImportHandle,
)
from engagement_warehouse.destinations.pinpoint.batching import (
    MAX_ITEMS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    RateLimiter,
    iter_batches,
    request_bytes,
)
from engagement_warehouse.destinations.pinpoint.jobs import create_import_job
from engagement_warehouse.destinations.pinpoint.payload import (
    PayloadLimits,
    build_endpoint_item,
    item_size,
    validate_item,
)

log = logging.getLogger(__name__)


class PinpointDestination:
    """Amazon Pinpoint behind the `Destination` interface."""

    def __init__(
        self,
        client: Any,
        application_id: str,
        *,
        import_role_arn: str | None = None,
        rate_per_second: float = 2.0,
        max_items: int = MAX_ITEMS_PER_REQUEST,
        max_bytes: int = MAX_REQUEST_BYTES,
        limits: PayloadLimits | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.client = client
        self.application_id = application_id
        self.import_role_arn = import_role_arn
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.limits = limits or PayloadLimits()
        self.rate_limiter = rate_limiter or RateLimiter(rate_per_second)
        self.name = f"pinpoint:{application_id}"
        self.requests_made = 0

    def plan_payload(self, record: EndpointRecord) -> dict[str, Any]:
        """The EndpointBatchItem that would be sent for `record` (used by dry runs)."""
        return build_endpoint_item(record)[0]

    def _prepared(
        self, records: Iterable[EndpointRecord], refused: list[ItemOutcome]
    ) -> Iterator[tuple[dict[str, Any], str | None, int]]:
        for record in records:
            try:
                item, notes = build_endpoint_item(record)
            except (TypeError, ValueError) as error:
                refused.append(ItemOutcome(record.endpoint_id, Outcome.FAILED, f"refused: {error}"))
                continue
            problems = validate_item(item, self.limits)
            size = item_size(item)
            if request_bytes([size]) > self.max_bytes:
                problems.append(f"item of {size} bytes does not fit a request of {self.max_bytes} bytes")
            if problems:
                refused.append(ItemOutcome(record.endpoint_id, Outcome.FAILED, "refused: " + "; ".join(problems)))
                continue
            yield item, ("; ".join(notes) or None), size

    def write_endpoints(self, records: Iterable[EndpointRecord]) -> Iterator[BatchResult]:
        """Validate, batch, pace and send; yield one result per request (and one per run of refusals)."""
        refused: list[ItemOutcome] = []
        prepared = self._prepared(records, refused)
        for batch in iter_batches(prepared, lambda p: p[2], self.max_items, self.max_bytes):
            if refused:
                yield BatchResult(outcomes=refused[:], requests=0)
                refused.clear()
            yield self._send(batch)
        if refused:
            yield BatchResult(outcomes=refused[:], requests=0)

    def _send(self, batch: list[tuple[dict[str, Any], str | None, int]]) -> BatchResult:
        items = [item for item, _, _ in batch]
        self.rate_limiter.acquire()
        self.requests_made += 1
        try:
            response = self.client.update_endpoints_batch(
                ApplicationId=self.application_id, EndpointBatchRequest={"Item": items}
            )
        except ClientError as error:
            info = error.response.get("Error", {})
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            reason = f"{info.get('Code', 'ClientError')} (HTTP {status}): {info.get('Message', error)}"
            log.warning("batch of %d endpoints failed after retries: %s", len(items), reason)
            return BatchResult([ItemOutcome(i["Id"], Outcome.FAILED, reason) for i in items], requests=1)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status != 202:
            reason = f"unexpected HTTP {status} from UpdateEndpointsBatch"
            return BatchResult([ItemOutcome(i["Id"], Outcome.FAILED, reason) for i in items], requests=1)
        return BatchResult([ItemOutcome(item["Id"], Outcome.ACCEPTED, note) for item, note, _ in batch], requests=1)

    def start_segment_import(self, segment: SegmentExport, segment_id: str | None) -> SegmentImportHandle:
        """CreateImportJob (CSV of ids) from `segment.location`; define the segment only on first import."""
        if not self.import_role_arn:
            raise ValueError("PinpointDestination needs import_role_arn to import segments")
        job = create_import_job(
            self.client,
            self.application_id,
            self.import_role_arn,
            segment.location,
            segment.segment_name,
            segment_id,
        )
        definition = job.get("Definition") or {}
        return SegmentImportHandle(
            segment_model=segment.segment_model,
            segment_name=segment.segment_name,
            job_id=job["Id"],
            segment_id=definition.get("SegmentId") or segment_id,
            rows=segment.rows,
        )
