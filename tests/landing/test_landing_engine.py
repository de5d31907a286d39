"""The landing engine: exactly once, nothing lost, bad input quarantined with a reason."""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from engagement_warehouse.lake import Lake
from engagement_warehouse.landing import DedupeWindow, land_source
from engagement_warehouse.pii import email_sha256
from engagement_warehouse.sources import get_source
from engagement_warehouse.sources.timestamps import parse_timestamp

AS_OF = date(2026, 11, 22)
UNTIL = datetime(2026, 11, 23)


def click(message_id: str, **overrides: object) -> dict[str, object]:
    event: dict[str, object] = {
        "type": "track",
        "event": "Product Viewed",
        "messageId": message_id,
        "anonymousId": "anon-1",
        "timestamp": "2026-11-22T10:00:00Z",
        "sentAt": "2026-11-22T10:05:00Z",
        "receivedAt": "2026-11-22T10:07:00Z",
        "properties": {"product_id": "p1"},
    }
    event.update(overrides)
    return event


def write(lake_dir: Path, key: str, data: bytes) -> None:
    path = lake_dir / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def jsonl(*records: object) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records).encode()


def staged_rows(lake: Lake, source: str) -> list[dict[str, object]]:
    files = [lake.path(o.key) for o in lake.list_objects(f"staged/{source}/") if o.key.endswith(".parquet")]
    return pads.dataset(files, format="parquet").to_table().to_pylist() if files else []


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def lake(lake_dir: Path) -> Lake:
    lake_dir.mkdir()
    return Lake(lake_dir.as_uri())


def land(lake: Lake, source: str, run_id: str = "run-1"):
    return land_source(lake, get_source(source), run_id=run_id, logical_date=AS_OF, until=UNTIL)


def test_counts_add_up_and_bad_rows_are_quarantined_with_reason(lake: Lake, lake_dir: Path) -> None:
    write(
        lake_dir,
        "raw/clickstream/2026/11/22/10/a.gz",
        gzip.compress(jsonl(click("m1"), click("m2"), "{not json", click("m1"), click("m3", type="bogus"))),
    )
    manifest = land(lake, "clickstream")
    assert (manifest.rows_in, manifest.rows_staged, manifest.duplicates, manifest.quarantined) == (5, 2, 1, 2)
    assert manifest.counts_add_up
    assert manifest.quarantined_by_reason == {"malformed_json": 1, "unknown_event_type": 1}
    quarantine = [
        json.loads(line)
        for path in (lake_dir / "quarantine/clickstream").rglob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert {(q["line_number"], q["reason"]) for q in quarantine} == {
        (3, "malformed_json"),
        (5, "unknown_event_type"),
    }
    assert all(q["source_key"] == "raw/clickstream/2026/11/22/10/a.gz" and q["original"] for q in quarantine)


def test_the_same_object_lands_once_and_a_rerun_changes_nothing(lake: Lake, lake_dir: Path) -> None:
    write(lake_dir, "raw/clickstream/2026/11/22/10/a.json", jsonl(click("m1"), click("m2")))
    first = land(lake, "clickstream")
    staged_before = sorted((p.name, p.read_bytes()) for p in (lake_dir / "staged").rglob("*.parquet"))
    second = land(lake, "clickstream", run_id="run-2")
    assert first.rows_staged == 2
    assert (second.objects_read, second.objects_already_landed, second.rows_in) == (0, 1, 0)
    assert sorted((p.name, p.read_bytes()) for p in (lake_dir / "staged").rglob("*.parquet")) == staged_before


def test_duplicates_across_objects_and_runs_are_dropped(lake: Lake, lake_dir: Path) -> None:
    write(lake_dir, "raw/clickstream/2026/11/22/10/a.json", jsonl(click("m1"), click("m2")))
    land(lake, "clickstream")
    write(lake_dir, "raw/clickstream/2026/11/22/13/b.json", jsonl(click("m2"), click("m4")))
    second = land(lake, "clickstream", run_id="run-2")
    assert (second.rows_in, second.rows_staged, second.duplicates) == (2, 1, 1)
    assert sorted(row["message_id"] for row in staged_rows(lake, "clickstream")) == ["m1", "m2", "m4"]


def test_late_event_lands_in_its_arrival_hour_and_keeps_event_time(lake: Lake, lake_dir: Path) -> None:
    late = click(
        "late",
        timestamp="2026-11-22T03:00:00Z",
        sentAt="2026-11-22T03:00:00Z",
        receivedAt="2026-11-22T09:30:00Z",
    )
    write(lake_dir, "raw/clickstream/2026/11/22/09/late.json", jsonl(late))
    land(lake, "clickstream")
    (row,) = staged_rows(lake, "clickstream")
    assert row["event_at"] == datetime(2026, 11, 22, 9, 30)  # receivedAt - (sentAt - timestamp): no skew here
    assert row["arrival_hour"] == datetime(2026, 11, 22, 9)
    assert list((lake_dir / "staged/clickstream").glob("dt=2026-11-22/hour=09/*.parquet"))


def test_clock_skew_is_corrected_as_the_segment_spec_defines(lake: Lake, lake_dir: Path) -> None:
    skewed = click(
        "s",
        timestamp="2026-11-22T10:00:00Z",
        sentAt="2026-11-22T10:10:00Z",
        receivedAt="2026-11-22T10:02:00Z",
    )
    write(lake_dir, "raw/clickstream/2026/11/22/10/s.json", jsonl(skewed))
    land(lake, "clickstream")
    assert staged_rows(lake, "clickstream")[0]["event_at"] == datetime(2026, 11, 22, 9, 52)


def test_objects_not_yet_due_wait_for_their_interval(lake: Lake, lake_dir: Path) -> None:
    write(
        lake_dir,
        "raw/clickstream/2026/11/23/00/a.json",
        jsonl(click("tomorrow", timestamp="2026-11-23T00:01:00Z")),
    )
    assert land(lake, "clickstream").objects_read == 0


def test_pinpoint_events_get_a_stable_id_and_duplicates_drop(lake: Lake, lake_dir: Path) -> None:
    event = {
        "event_type": "_email.open",
        "event_timestamp": 1795341600000,
        "arrival_timestamp": 1795345200000,
        "client": {"client_id": "ep_1"},
        "attributes": {"campaign_id": "c1"},
    }
    write(
        lake_dir,
        "raw/pinpoint_events/2026/11/22/11/a.json",
        jsonl(event, dict(reversed(list(event.items())))),
    )
    manifest = land(lake, "pinpoint_events")
    assert (manifest.rows_staged, manifest.duplicates) == (1, 1)
    (row,) = staged_rows(lake, "pinpoint_events")
    assert row["client_id"] == "ep_1" and len(row["event_id"]) == 64
    assert row["event_at"] == parse_timestamp(1795341600000)


def test_endpoint_export_refuses_non_e164_sms(lake: Lake, lake_dir: Path) -> None:
    good = {"Id": "ep_1", "ChannelType": "SMS", "Address": "+12065550100", "User": {"UserId": "u1"}}
    bad = {"Id": "ep_2", "ChannelType": "SMS", "Address": "206-555-0100"}
    write(lake_dir, "raw/pinpoint_endpoints/2026/11/22/export.json", jsonl(good, bad))
    manifest = land(lake, "pinpoint_endpoints")
    assert manifest.quarantined_by_reason == {"address_not_e164": 1}
    assert staged_rows(lake, "pinpoint_endpoints")[0]["export_date"] == date(2026, 11, 22)


PARTNER_HEADER = "email_sha256,loyalty_tier,points_balance,member_since\n"


def test_partner_file_with_a_plaintext_email_is_quarantined_whole(lake: Lake, lake_dir: Path) -> None:
    body = PARTNER_HEADER + f"{email_sha256('a@example.com')},gold,10,2024-01-01\nb@example.com,silver,5,\n"
    write(lake_dir, "raw/partner/acme_loyalty/2026/11/22/acme.csv", body.encode())
    manifest = land(lake, "partner_acme_loyalty")
    assert manifest.rows_staged == 0
    assert manifest.quarantined_by_reason == {"plaintext_email_in_hashed_column": 2}
    assert manifest.counts_add_up


def test_partner_csv_with_bom_crlf_and_quoted_fields_lands(lake: Lake, lake_dir: Path) -> None:
    body = PARTNER_HEADER.replace("\n", "\r\n") + f'{email_sha256(" A@Example.com ")},"gold, plus",10,2024-01-01\r\n'
    write(lake_dir, "raw/partner/acme_loyalty/2026/11/22/acme.csv", b"\xef\xbb\xbf" + body.encode())
    land(lake, "partner_acme_loyalty")
    (row,) = staged_rows(lake, "partner_acme_loyalty")
    assert row["email_sha256"] == email_sha256("a@example.com")
    assert row["loyalty_tier"] == "gold, plus" and row["points_balance"] == 10


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-22T10:00:00Z", datetime(2026, 11, 22, 10)),
        ("2026-11-22T12:00:00+02:00", datetime(2026, 11, 22, 10)),
        (1795341600, datetime(2026, 11, 22, 10)),
        (1795341600000, datetime(2026, 11, 22, 10)),
        ("1795341600000", datetime(2026, 11, 22, 10)),
    ],
)
def test_timestamps_accept_iso_and_epoch_seconds_or_millis(value: object, expected: datetime) -> None:
    assert parse_timestamp(value) == expected


def test_the_dedupe_window_slides_and_holds_only_the_days_around_the_partition() -> None:
    staged = {date(2026, 11, 1): {"old", "twice"}, date(2026, 11, 3): {"twice", "near"}}
    loaded: list[date] = []

    def load(day: date) -> set[str]:
        loaded.append(day)
        return set(staged.get(day, set()))

    window = DedupeWindow(load, timedelta(days=2))
    assert window.at(datetime(2026, 11, 3, 10)) == {"old", "twice", "near"}
    window.add(datetime(2026, 11, 3, 10), ["new"])
    # Two days later, 11-01 falls behind the window: its keys go, except one also staged on a day still inside.
    assert window.at(datetime(2026, 11, 4, 1)) == {"twice", "near", "new"}
    assert sorted(window.days) == [date(2026, 11, day) for day in range(2, 7)]
    assert loaded == [date(2026, 11, day) for day in range(1, 7)]  # each day loaded once


def test_a_backfill_in_one_run_dedupes_like_day_by_day_runs(lake: Lake, lake_dir: Path) -> None:
    """A messageId seen again five days later is beyond the two-day window in either way of running."""
    write(lake_dir, "raw/clickstream/2026/11/15/10/a.json", jsonl(click("m1", timestamp="2026-11-15T10:00:00Z")))
    write(lake_dir, "raw/clickstream/2026/11/20/10/b.json", jsonl(click("m1"), click("m2")))
    manifest = land_source(lake, get_source("clickstream"), run_id="backfill", logical_date=AS_OF, until=UNTIL)
    assert (manifest.rows_staged, manifest.duplicates) == (3, 0)


def test_a_symlinked_folder_in_a_local_lake_is_skipped_not_fatal(lake: Lake, lake_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere, "b.json", jsonl(click("m2")))
    write(lake_dir, "raw/clickstream/2026/11/22/10/a.json", jsonl(click("m1")))
    (lake_dir / "raw/clickstream/2026/11/22/11").symlink_to(elsewhere, target_is_directory=True)
    manifest = land(lake, "clickstream")
    assert (manifest.objects_read, manifest.rows_staged) == (1, 1)
