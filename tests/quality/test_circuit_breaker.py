"""The export circuit breaker: swings above the threshold block unless approved."""

from __future__ import annotations

import pytest

from engagement_warehouse.quality.circuit_breaker import (
    APPROVAL_PARAM,
    APPROVAL_VARIABLE,
    check_circuit_breaker,
)

PREVIOUS = {"segment:vip": 1000, "segment:lapsed": 200, "endpoints": 10_000}


def test_first_export_has_no_baseline_and_passes():
    result = check_circuit_breaker({"segment:vip": 5}, None)
    assert not result.blocked and not result.baseline
    assert "no previous successful export" in result.message()


def test_small_swings_pass():
    current = {"segment:vip": 1290, "segment:lapsed": 150, "endpoints": 10_500, "changed_endpoints": 2_000}
    result = check_circuit_breaker(current, PREVIOUS)
    assert not result.blocked
    assert result.tripped == ()


def test_segment_growth_above_threshold_blocks_and_names_the_approval():
    current = {"segment:vip": 1500, "segment:lapsed": 200, "endpoints": 10_000}
    result = check_circuit_breaker(current, PREVIOUS)
    assert result.blocked
    [swing] = result.tripped
    assert swing.name == "segment:vip" and swing.change == pytest.approx(0.5)
    message = result.message()
    assert "segment:vip 1000 -> 1500 (+50.0%)" in message
    assert APPROVAL_PARAM in message and APPROVAL_VARIABLE in message


def test_emptied_or_vanished_segment_blocks():
    result = check_circuit_breaker({"segment:vip": 0, "endpoints": 10_000}, PREVIOUS)
    assert {s.name for s in result.tripped} == {"segment:vip", "segment:lapsed"}
    assert "segment:lapsed 200 -> 0 (-100.0%)" in result.message()


def test_too_many_changed_endpoints_blocks():
    current = {"segment:vip": 1000, "segment:lapsed": 200, "endpoints": 10_000, "changed_endpoints": 3_500}
    result = check_circuit_breaker(current, PREVIOUS)
    [swing] = result.tripped
    assert swing.name == "changed_endpoints" and swing.change == pytest.approx(0.35)


def test_new_segment_has_no_baseline_and_does_not_trip():
    current = {**PREVIOUS, "segment:new": 50_000}
    assert not check_circuit_breaker(current, PREVIOUS).blocked


def test_approval_lets_a_tripped_swing_through_but_still_reports_it():
    current = {"segment:vip": 3000, "segment:lapsed": 200, "endpoints": 10_000}
    result = check_circuit_breaker(current, PREVIOUS, approved=True)
    assert not result.blocked and result.tripped
    assert "approved" in result.message()


def test_threshold_is_configurable():
    current = {"segment:vip": 1100, "segment:lapsed": 200, "endpoints": 10_000}
    assert not check_circuit_breaker(current, PREVIOUS).blocked
    assert check_circuit_breaker(current, PREVIOUS, threshold=0.05).blocked
