"""The work behind each DAG task, as plain functions: testable without a scheduler, called by the thin DAGs."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from engagement_warehouse.lake import Lake
from engagement_warehouse.landing import land_source
from engagement_warehouse.orchestration import interval_end
from engagement_warehouse.settings import get_settings
from engagement_warehouse.sources import all_sources, get_source
from engagement_warehouse.warehouse import get_loader

log = logging.getLogger(__name__)


def partner_source_names() -> list[str]:
    """One source per partner contract."""
    return [source.name for source in all_sources() if source.name.startswith("partner_")]


def land_sources(source_names: list[str], *, as_of: date, run_id: str) -> dict[str, dict[str, Any]]:
    """Land every raw object of these sources that is due by the end of `as_of` and not yet landed."""
    lake = Lake.from_settings(get_settings())
    results: dict[str, dict[str, Any]] = {}
    for name in source_names:
        manifest = land_source(lake, get_source(name), run_id=run_id, logical_date=as_of, until=interval_end(as_of))
        log.info(
            "landed %s: %d objects read (%d already landed), %d rows in = %d staged + %d duplicates "
            "+ %d quarantined %s",
            name,
            manifest.objects_read,
            manifest.objects_already_landed,
            manifest.rows_in,
            manifest.rows_staged,
            manifest.duplicates,
            manifest.quarantined,
            manifest.quarantined_by_reason or "",
        )
        results[name] = {
            "objects_read": manifest.objects_read,
            "rows_in": manifest.rows_in,
            "rows_staged": manifest.rows_staged,
            "duplicates": manifest.duplicates,
            "quarantined": manifest.quarantined,
            "quarantined_by_reason": manifest.quarantined_by_reason,
        }
    return results


def register_sources(source_names: list[str]) -> dict[str, int]:
    """Make each source's warehouse `raw` table show its staged rows; returns row counts per table."""
    settings = get_settings()
    lake = Lake.from_settings(settings)
    loader = get_loader(settings)
    counts = {}
    for name in source_names:
        source = get_source(name)
        counts[source.table] = loader.register(lake, source)
    return counts
