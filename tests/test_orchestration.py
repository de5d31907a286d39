"""Which day a run is about (`resolve_as_of`), and why `build_marts` never builds an older day than it gated."""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from engagement_warehouse.orchestration import MARTS_GATED, marts_as_of, resolve_as_of


class Events(list):
    """A stand-in for Airflow's inlet-events accessor: events in the order they happened (timestamps)."""

    def ascending(self, ascending: bool = True) -> Events:
        return Events(self if ascending else reversed(self))

    def limit(self, limit: int) -> Events:
        return Events(self[:limit])


def event(day: str) -> SimpleNamespace:
    return SimpleNamespace(extra={"as_of": day})


def context(
    params_as_of: str | None = None, carried: tuple[str, ...] = (), gated: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {
        "params": {"as_of": params_as_of},
        "triggering_asset_events": {"raw": [event(day) for day in carried]},
        "inlet_events": {MARTS_GATED: Events(event(day) for day in gated)},
        "data_interval_start": datetime(2026, 11, 22),
        "data_interval_end": datetime(2026, 11, 23),
    }


def test_the_param_wins_then_the_newest_carried_day_then_the_interval() -> None:
    assert resolve_as_of(context("2026-10-01", carried=("2026-11-20",))) == date(2026, 10, 1)
    assert resolve_as_of(context(carried=("2026-11-19", "2026-11-20"))) == date(2026, 11, 20)
    assert resolve_as_of(context()) == date(2026, 11, 22)


def test_a_backfill_of_past_days_builds_the_marts_as_of_the_day_they_hold() -> None:
    backfilled = context(carried=("2026-11-18", "2026-11-19"), gated=("2026-11-21", "2026-11-22"))
    assert marts_as_of(backfilled) == date(2026, 11, 22)


def test_a_newer_day_moves_the_marts_forward() -> None:
    assert marts_as_of(context(carried=("2026-11-23",), gated=("2026-11-22",))) == date(2026, 11, 23)
    assert marts_as_of(context(carried=("2026-11-23",))) == date(2026, 11, 23)  # nothing gated yet


def test_an_operator_can_still_rebuild_a_past_day_on_purpose() -> None:
    assert marts_as_of(context("2026-11-01", gated=("2026-11-22",))) == date(2026, 11, 1)
    # ... and what the marts then hold is that day: a later backfill does not jump past it.
    assert marts_as_of(context(carried=("2026-10-20",), gated=("2026-11-22", "2026-11-01"))) == date(2026, 11, 1)
