"""Orchestrates one generation run and reports what it wrote (`generate` and `GenerationSummary`).

Order of work, hour by hour over the window: clickstream sessions (which also emit app sessions and
welcome-journey emails into the Pinpoint stream), scheduled campaigns, then the Pinpoint events that
arrived in that hour. After the hours: the endpoint exports (end date, and a week earlier from a snapshot
of the user state taken then) and the partner files. Every random draw comes from RNGs seeded with the run
seed plus a fixed label, so the same arguments always produce the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from engagement_warehouse.sample_data.clickstream import ClickstreamStream
from engagement_warehouse.sample_data.clock import HOUR_MS, date_to_ms, iso_ms
from engagement_warehouse.sample_data.partner import PARTNER, write_loyalty_file
from engagement_warehouse.sample_data.people import UserFactory
from engagement_warehouse.sample_data.pinpoint import PinpointEventStream, write_endpoint_export
from engagement_warehouse.sample_data.sink import LakeSink
from engagement_warehouse.sample_data.state import UserState

DEFAULT_END_DATE = date(2026, 11, 22)
DEFAULT_MAX_LINES_PER_OBJECT = 50_000
EXPORT_HOUR = 23  # the daily CreateExportJob runs at 23:00 UTC
EARLIER_SNAPSHOT_DAYS = 7


@dataclass(frozen=True)
class GenerationSummary:
    """What one run wrote: the ground truth that landing tests reconcile against.

    `rows` counts every line written per source, dirt included (duplicates, the malformed line); partner
    rows exclude the CSV header. `files_written` are object keys relative to the lake root, in write order.
    """

    lake_url: str
    seed: int
    users: int
    days: int
    start_date: date
    end_date: date
    rows: dict[str, int]
    files: dict[str, int]
    dirt: dict[str, int]
    personas: dict[str, int]
    clickstream_types: dict[str, int]
    pinpoint_event_types: dict[str, int]
    clickstream_sessions: int
    historical_orders: int
    late_hour: str | None  # the hour (UTC, ISO) whose clickstream was written under a later prefix
    late_keys: tuple[str, ...]
    malformed_key: str | None
    bytes_written: int
    files_written: tuple[str, ...] = field(repr=False)

    def to_dict(self) -> dict:
        """JSON-ready dict (dates as ISO strings)."""
        data = asdict(self)
        data["start_date"] = self.start_date.isoformat()
        data["end_date"] = self.end_date.isoformat()
        data["late_keys"] = list(self.late_keys)
        data["files_written"] = list(self.files_written)
        return data

    def render(self) -> str:
        """A short human-readable report, as the CLI prints it."""
        lines = [
            f"Sample data in {self.lake_url}: {self.users} users, {self.days} days "
            f"({self.start_date} .. {self.end_date}), seed {self.seed}",
            f"{'source':<22}{'rows':>12}{'files':>8}",
        ]
        for source, rows in self.rows.items():
            lines.append(f"{source:<22}{rows:>12,}{self.files[source]:>8,}")
        lines.append("personas: " + ", ".join(f"{k}={v}" for k, v in self.personas.items()))
        lines.append(
            f"clickstream sessions: {self.clickstream_sessions:,}; historical orders: {self.historical_orders:,}"
        )
        lines.append("dirt: " + ", ".join(f"{k}={v}" for k, v in self.dirt.items()))
        if self.late_hour:
            lines.append(f"late hour: {self.late_hour} written under {', '.join(self.late_keys)}")
        if self.malformed_key:
            lines.append(f"malformed line in: {self.malformed_key}")
        lines.append(f"{sum(self.files.values()):,} objects, {self.bytes_written:,} bytes")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def generate(
    lake_url: str,
    users: int,
    days: int,
    seed: int,
    end_date: date = DEFAULT_END_DATE,
    *,
    application_id: str | None = None,
    max_lines_per_object: int = DEFAULT_MAX_LINES_PER_OBJECT,
) -> GenerationSummary:
    """Write a deterministic sample of every raw source into `<lake_url>/raw/` and summarise it.

    The window is the `days` days ending at `end_date` inclusive. `application_id` defaults to the
    configured Pinpoint application (`EWH_PINPOINT_APPLICATION_ID`). Objects with the same names are
    overwritten, so a rerun with the same arguments reproduces the same lake; objects of an earlier run
    with other arguments are left in place (use a fresh lake or prefix for a different run).
    """
    if users < 1 or days < 1:
        raise ValueError("users and days must both be at least 1")
    if max_lines_per_object < 1:
        raise ValueError("max_lines_per_object must be at least 1")
    if application_id is None:
        from engagement_warehouse.settings import get_settings

        application_id = get_settings().pinpoint_application_id

    with LakeSink(lake_url) as sink:
        return _generate(sink, lake_url, users, days, seed, end_date, application_id, max_lines_per_object)


def _generate(
    sink: LakeSink,
    lake_url: str,
    users: int,
    days: int,
    seed: int,
    end_date: date,
    application_id: str,
    max_lines_per_object: int,
) -> GenerationSummary:
    start_date = end_date - timedelta(days=days - 1)
    start_ms = date_to_ms(start_date)
    end_ms = date_to_ms(end_date)
    n_hours = days * 24
    factory = UserFactory(seed, users, days, start_ms)
    state = UserState.empty(users)
    pinpoint = PinpointEventStream(sink, factory, state, seed, application_id, start_ms, n_hours, max_lines_per_object)
    clicks = ClickstreamStream(sink, factory, state, pinpoint, seed, start_ms, n_hours, max_lines_per_object)

    earlier_export_ms = date_to_ms(end_date - timedelta(days=EARLIER_SNAPSHOT_DAYS)) + EXPORT_HOUR * HOUR_MS
    end_export_ms = end_ms + EXPORT_HOUR * HOUR_MS
    snapshot = state.copy() if earlier_export_ms < start_ms else None
    try:
        for hour in range(n_hours):
            clicks.run_hour(hour)
            pinpoint.run_campaigns(hour, end_ms)
            pinpoint.flush_hour(hour)
            if start_ms + hour * HOUR_MS == earlier_export_ms:
                snapshot = state.copy()
        clicks.finish()
    finally:
        pinpoint.close()
    assert snapshot is not None

    endpoint_rows = endpoint_files = 0
    for export_ms, export_state in ((earlier_export_ms, snapshot), (end_export_ms, state)):
        rows, files = write_endpoint_export(
            sink, factory, export_state, seed, application_id, export_ms, max_lines_per_object
        )
        endpoint_rows += rows
        endpoint_files += files

    partner_rows = partner_missing = 0
    for file_date, missing in ((end_date - timedelta(days=EARLIER_SNAPSHOT_DAYS), 0), (end_date, 1)):
        rows, blanks, _ = write_loyalty_file(sink, factory, seed, date_to_ms(file_date), missing)
        partner_rows += rows
        partner_missing += blanks
    sink.close()  # wait for queued uploads so that the byte count is final

    return GenerationSummary(
        lake_url=lake_url,
        seed=seed,
        users=users,
        days=days,
        start_date=start_date,
        end_date=end_date,
        rows={
            "clickstream": clicks.rows,
            "pinpoint_events": pinpoint.rows,
            "pinpoint_endpoints": endpoint_rows,
            f"partner_{PARTNER}": partner_rows,
        },
        files={
            "clickstream": clicks.files,
            "pinpoint_events": pinpoint.files,
            "pinpoint_endpoints": endpoint_files,
            f"partner_{PARTNER}": 2,
        },
        dirt={
            "clickstream_duplicates_same_file": clicks.dup_same_file,
            "clickstream_duplicates_later_hour": clicks.dup_later_hour,
            "clickstream_late_rows": clicks.late_rows,
            "clickstream_malformed_lines": clicks.malformed,
            "pinpoint_duplicate_records": pinpoint.duplicates,
            "partner_missing_required": partner_missing,
        },
        personas=factory.persona_counts(),
        clickstream_types=dict(sorted(clicks.by_type.items())),
        pinpoint_event_types=dict(sorted(pinpoint.by_type.items())),
        clickstream_sessions=clicks.sessions,
        historical_orders=clicks.historical_orders,
        late_hour=iso_ms(start_ms + clicks.late_hour * HOUR_MS) if clicks.late_hour is not None else None,
        late_keys=tuple(clicks.late_keys),
        malformed_key=clicks.malformed_key,
        bytes_written=sink.bytes_written,
        files_written=tuple(sink.written),
    )
