"""The staged suites: schema, key not-null, types (fail); volume and Pinpoint quirks (warn)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from engagement_warehouse.quality.derive import message_timeline, raw_relation, staged_volume

from .conftest import T0, email_event, pinpoint_events_frame

CHECKPOINT_OF = {
    "raw_clickstream_events": "ingest_clickstream",
    "raw_pinpoint_events": "ingest_engagement",
    "raw_pinpoint_endpoints": "ingest_engagement",
    "raw_partner_acme_loyalty": "ingest_partner",
}
KEY_OF = {
    "raw_clickstream_events": "message_id",
    "raw_pinpoint_events": "event_id",
    "raw_pinpoint_endpoints": "endpoint_id",
    "raw_partner_acme_loyalty": "email_sha256",
}
MINUTE = dt.timedelta(minutes=1)


def batches_for(
    checkpoint: str, frames: dict[str, pd.DataFrame], volume: pd.DataFrame | None = None
) -> dict[str, pd.DataFrame]:
    """The checkpoint's batches; `staged_volume` without history (no band) unless `volume` is given."""
    batches = {asset: frame for asset, frame in frames.items() if CHECKPOINT_OF[asset] == checkpoint}
    if checkpoint == "ingest_engagement":
        batches["pinpoint_message_timeline"] = message_timeline(frames["raw_pinpoint_events"])
    if volume is None:
        volume = staged_volume(
            {raw_relation(asset): len(frame) for asset, frame in batches.items() if asset in CHECKPOINT_OF}, {}, 3.0
        )
    batches["staged_volume"] = volume
    return batches


def find(outcomes, expectation_type: str, **kwargs):
    return [
        o
        for o in outcomes
        if o.expectation_type == expectation_type and all(o.kwargs.get(k) == v for k, v in kwargs.items())
    ]


@pytest.mark.parametrize("checkpoint", ["ingest_clickstream", "ingest_engagement", "ingest_partner"])
def test_clean_staged_frames_pass_without_warnings(gate, staged_frames, checkpoint):
    result = gate(checkpoint, batches_for(checkpoint, staged_frames))
    assert result.passed, result.summary()
    assert result.warnings == ()
    assert result.checks_run > 10


@pytest.mark.parametrize("asset", sorted(KEY_OF))
def test_null_key_fails(gate, staged_frames, asset):
    key = KEY_OF[asset]
    staged_frames[asset] = staged_frames[asset].astype({key: "object"})
    staged_frames[asset].loc[1, key] = None
    checkpoint = CHECKPOINT_OF[asset]
    result = gate(checkpoint, batches_for(checkpoint, staged_frames))
    assert not result.passed
    [failure] = find(result.failures, "expect_column_values_to_not_be_null", column=key)
    assert failure.asset == asset and failure.severity == "fail"
    assert failure.failing_count == 1


@pytest.mark.parametrize("asset", sorted(KEY_OF))
def test_missing_column_fails_schema_check(gate, staged_frames, asset):
    staged_frames[asset] = staged_frames[asset].drop(columns=["source_line"])
    checkpoint = CHECKPOINT_OF[asset]
    result = gate(checkpoint, batches_for(checkpoint, staged_frames))
    assert not result.passed
    assert find(result.failures, "expect_table_columns_to_match_set")
    assert find(result.failures, "expect_column_values_to_be_in_type_list", column="source_line")


def test_extra_column_fails_schema_check(gate, staged_frames):
    staged_frames["raw_clickstream_events"]["surprise"] = "x"
    result = gate("ingest_clickstream", batches_for("ingest_clickstream", staged_frames))
    [failure] = find(result.failures, "expect_table_columns_to_match_set")
    assert "surprise" in str(failure.observed_value)


@pytest.mark.parametrize(
    ("asset", "column", "bad"),
    [
        ("raw_clickstream_events", "source_line", "12"),  # int64 column holding text
        ("raw_pinpoint_events", "event_at", "2026-11-01 10:00:00"),  # timestamp column holding text
        ("raw_pinpoint_endpoints", "export_date", 20261101),  # date column holding a number
        ("raw_partner_acme_loyalty", "points_balance", "many"),
    ],
)
def test_wrong_type_fails(gate, staged_frames, asset, column, bad):
    staged_frames[asset][column] = pd.Series([bad] * len(staged_frames[asset]), dtype="object")
    checkpoint = CHECKPOINT_OF[asset]
    result = gate(checkpoint, batches_for(checkpoint, staged_frames))
    assert not result.passed
    [failure] = find(result.failures, "expect_column_values_to_be_in_type_list", column=column)
    assert failure.severity == "fail"


def test_partner_plaintext_email_key_fails(gate, staged_frames):
    frame = staged_frames["raw_partner_acme_loyalty"]
    frame.loc[0, "email_sha256"] = "jane@example.com"
    result = gate("ingest_partner", batches_for("ingest_partner", {"raw_partner_acme_loyalty": frame}))
    [failure] = find(result.failures, "expect_column_values_to_match_regex", column="email_sha256")
    assert failure.sample == ("jane@example.com",)


def test_empty_batch_is_a_warning_not_a_failure(gate, staged_frames):
    empty = staged_frames["raw_clickstream_events"].iloc[0:0]
    result = gate("ingest_clickstream", batches_for("ingest_clickstream", {"raw_clickstream_events": empty}))
    assert result.passed, result.summary()
    [warning] = find(result.warnings, "expect_table_row_count_to_be_between")
    assert warning.severity == "warn" and warning.observed_value == 0


def _engagement(staged_frames, events: pd.DataFrame) -> dict[str, pd.DataFrame]:
    staged_frames["raw_pinpoint_events"] = events
    return batches_for("ingest_engagement", staged_frames)


def test_arrival_before_event_timestamp_is_a_warning(gate, staged_frames):
    events = pinpoint_events_frame(
        [
            email_event("ev1", "_email.send", "m1", T0, T0),
            email_event("ev2", "_email.delivered", "m1", T0, T0 - MINUTE),  # arrived "before" it was sent
        ]
    )
    result = gate("ingest_engagement", _engagement(staged_frames, events))
    assert result.passed, result.summary()
    [warning] = find(result.warnings, "expect_column_pair_values_a_to_be_greater_than_b", column_A="arrival_at")
    assert warning.asset == "raw_pinpoint_events"
    assert warning.failing_count == 1


def test_open_before_delivery_is_a_warning(gate, staged_frames):
    events = pinpoint_events_frame(
        [
            email_event("ev1", "_email.send", "m1", T0, T0),
            email_event("ev2", "_email.open", "m1", T0, T0 + 2 * MINUTE),
            email_event("ev3", "_email.delivered", "m1", T0, T0 + 3 * MINUTE),
            email_event("ev4", "_email.delivered", "m2", T0, T0 + MINUTE),  # m2: never opened, fine
        ]
    )
    result = gate("ingest_engagement", _engagement(staged_frames, events))
    assert result.passed, result.summary()
    [warning] = find(result.warnings, "expect_column_pair_values_a_to_be_greater_than_b", column_A="first_open_at")
    assert warning.asset == "pinpoint_message_timeline"
    assert warning.failing_count == 1
    assert result.failures == ()


def test_many_deliveries_for_one_message_is_a_warning(gate, staged_frames):
    events = pinpoint_events_frame(
        [email_event(f"ev{i}", "_email.delivered", "m1", T0, T0 + i * MINUTE) for i in range(1, 4)]
    )
    result = gate("ingest_engagement", _engagement(staged_frames, events))
    assert result.passed, result.summary()
    [warning] = find(result.warnings, "expect_column_values_to_be_between", column="delivery_count")
    assert warning.sample == (3,)


HISTORY = {"d1": 90, "d2": 100, "d3": 110}


@pytest.mark.parametrize(
    ("rows_today", "column_a", "warns"),
    [
        pytest.param(33, "rows_today", True, id="drop below median / 3"),
        pytest.param(34, "rows_today", False, id="within the band (low)"),
        pytest.param(300, "max_expected_rows", False, id="within the band (high)"),
        pytest.param(301, "max_expected_rows", True, id="spike above median * 3"),
    ],
)
def test_volume_against_recent_runs_warns_without_blocking(gate, staged_frames, rows_today, column_a, warns):
    volume = staged_volume({"raw.clickstream_events": rows_today}, {"raw.clickstream_events": HISTORY}, 3.0)
    result = gate("ingest_clickstream", batches_for("ingest_clickstream", staged_frames, volume))
    assert result.passed, result.summary()
    matches = find(result.warnings, "expect_column_pair_values_a_to_be_greater_than_b", column_A=column_a)
    assert len(matches) == warns
    if warns:
        assert matches[0].asset == "staged_volume" and matches[0].failing_count == 1


def test_volume_is_not_compared_without_enough_history(gate, staged_frames):
    volume = staged_volume({"raw.clickstream_events": 1}, {"raw.clickstream_events": {"d1": 1000, "d2": 1000}}, 3.0)
    assert volume["min_expected_rows"].isna().all()
    result = gate("ingest_clickstream", batches_for("ingest_clickstream", staged_frames, volume))
    assert result.passed and result.warnings == ()
