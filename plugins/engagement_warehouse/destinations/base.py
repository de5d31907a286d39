"""The destination interface: desired state in, per-item outcomes out.

A destination (Amazon Pinpoint today, Amazon Connect Customer Profiles or another tool later) receives

- the endpoints whose desired state changed since the last successful sync, as `EndpointRecord` items
  (an endpoint id plus a mapping of *attribute paths* to values, the paths coming from the dbt export
  model's column meta), and
- the segments to (re)define, as `SegmentExport` items (segment name + the lake location of a file of
  member ids),

and reports one `ItemOutcome` per item. The generic machinery (diff, sync state, ledger, dry run) lives in
`destinations/state.py`, `ledger.py` and `sync.py` and only talks to this interface, so a successor
implements `Destination` and the DAGs do not change.

Crash safety is part of the contract: `write_endpoints` is a generator that yields one `BatchResult`
per request it made. The caller commits the last-synced state of the accepted items *before* asking for
the next batch, so a crash between two batches loses nothing and repeats nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

AttributeValue = str | float | int | list[str] | None
"""A desired attribute value. `None` (or an empty list) means "clear this attribute"."""


class Outcome(StrEnum):
    """What happened to one item."""

    ACCEPTED = "accepted"  # the destination accepted the item (Pinpoint: 202 for its batch)
    FAILED = "failed"  # refused by pre-flight validation or by the destination; retried next run
    SKIPPED = "skipped"  # deliberately not sent (empty segment, endpoint gone upstream, dry run)
    PLANNED = "planned"  # dry run: would have been sent
    STARTED = "started"  # an asynchronous job (segment import) was started; its result comes later


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """The desired state of one endpoint.

    `attributes` maps destination attribute paths (e.g. `Attributes.tier`, `User.UserId`,
    `Metrics.ltv`, `ChannelType`) to values. Every mapped path is present: a `None` value means the
    attribute must be cleared in the destination, not left stale.
    """

    endpoint_id: str
    attributes: Mapping[str, AttributeValue]


@dataclass(frozen=True, slots=True)
class SegmentExport:
    """A segment ready to import: its members were written as files under `location` (a URL prefix)."""

    segment_model: str  # the dbt model that defines the segment
    segment_name: str  # the segment name in the destination
    location: str  # URL of the folder (prefix) holding the member files, e.g. s3://bucket/.../2026-11-23/
    rows: int  # number of members written
    files: tuple[str, ...] = ()  # URLs of the files written


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """The outcome of one item (an endpoint or a segment)."""

    item_id: str
    outcome: Outcome
    reason: str | None = None


@dataclass(slots=True)
class BatchResult:
    """The outcome of one request to the destination (or of pre-flight refusals, with `requests=0`)."""

    outcomes: list[ItemOutcome] = field(default_factory=list)
    requests: int = 0  # API requests made for this batch (0 for pre-flight refusals)

    @property
    def accepted_ids(self) -> list[str]:
        return [o.item_id for o in self.outcomes if o.outcome is Outcome.ACCEPTED]

    @property
    def failed(self) -> list[ItemOutcome]:
        return [o for o in self.outcomes if o.outcome is Outcome.FAILED]


@dataclass(frozen=True, slots=True)
class SegmentImportHandle:
    """A started segment import (asynchronous on the destination side)."""

    segment_model: str
    segment_name: str
    job_id: str
    segment_id: str | None  # known when re-importing into an existing segment
    rows: int


@dataclass(slots=True)
class BulkResult:
    """The outcome of loading a whole plan at once (all or nothing, apart from pre-flight refusals)."""

    accepted: bool  # the destination applied every item that was sent
    refused: list[ItemOutcome] = field(default_factory=list)  # refused before sending (never sent)
    requests: int = 0
    reason: str | None = None  # why the load was not accepted (recorded on every sent item)


class BulkPath(Protocol):
    """An optional bulk path (e.g. an import job) used instead of batches above `threshold` endpoints."""

    threshold: int

    def load(self, records: Iterable[EndpointRecord]) -> BulkResult | None:
        """Load every record; return None to decline (e.g. too big for one job): batches are used."""
        ...


@runtime_checkable
class Destination(Protocol):
    """What a destination must implement. Keep it small: the rest is generic."""

    name: str
    """Stable destination key, stored in the sync-state and ledger tables (e.g. `pinpoint:<app id>`)."""

    def write_endpoints(self, records: Iterable[EndpointRecord]) -> Iterator[BatchResult]:
        """Validate, batch and send `records`, yielding one `BatchResult` per request or refusal.

        Must be lazy: the caller commits state for a yielded batch before the next request is made.
        """
        ...

    def plan_payload(self, record: EndpointRecord) -> dict[str, Any]:
        """The request item that would be sent for `record` (written by dry runs, never sent)."""
        ...

    def start_segment_import(self, segment: SegmentExport, segment_id: str | None) -> SegmentImportHandle:
        """Start importing `segment`; `segment_id` is the destination's id from an earlier run, if any."""
        ...


def count_outcomes(outcomes: Sequence[ItemOutcome]) -> dict[str, int]:
    """Count outcomes by kind (for logs and the ledger)."""
    counts = {o.value: 0 for o in Outcome}
    for item in outcomes:
        counts[item.outcome.value] += 1
    return counts
