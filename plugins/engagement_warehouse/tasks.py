"""The work behind each DAG task, as plain functions: testable without a scheduler, called by the thin DAGs."""

from __future__ import annotations

import json
import logging
import os
from datetime import date, datetime, timedelta
from typing import Any

from engagement_warehouse.lake import Lake
from engagement_warehouse.landing import land_source
from engagement_warehouse.orchestration import interval_end
from engagement_warehouse.settings import Settings, get_settings
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
        manifest = land_source(
            lake,
            get_source(name),
            run_id=run_id,
            logical_date=as_of,
            until=interval_end(as_of),
            workers=get_settings().landing_workers,
        )
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
            "staged_partitions": manifest.staged_partitions,
        }
    return results


def register_sources(source_names: list[str], partitions: dict[str, list[str]] | None = None) -> dict[str, int]:
    """Make each source's warehouse `raw` table show its staged rows; returns row counts per table.

    `partitions`: per source, the staged partitions the landing run touched (None: everything staged, e.g. the
    first load after switching targets): each loader replaces only the touched partitions.
    """
    settings = get_settings()
    lake = Lake.from_settings(settings)
    loader = get_loader(settings)
    counts = {}
    for name in source_names:
        source = get_source(name)
        touched = None if partitions is None else partitions.get(name, [])
        counts[source.table] = loader.register(lake, source, touched)
    return counts


def _record_gate(checkpoint: str, as_of: str, result: Any) -> dict[str, Any]:
    """Write the gate's verdict to the lake (`manifests/quality/<checkpoint>/<day>.json`) and return it."""
    verdict = result.to_dict()
    lake = Lake.from_settings(get_settings())
    lake.write_bytes(
        f"manifests/quality/{checkpoint}/{as_of}.json",
        json.dumps(verdict, indent=2, default=str).encode("utf-8"),
    )
    return verdict


def _raise_if_blocked(result: Any) -> None:
    if result.passed:
        if result.warnings:
            log.warning("quality gate passed with warnings:\n%s", result.summary())
        return
    from airflow.sdk.exceptions import AirflowFailException

    # AirflowFailException: bad data does not get better by retrying; an operator must look.
    raise AirflowFailException(result.summary())


def gate_staged(checkpoint: str, *, as_of: str, run_name: str) -> dict[str, Any]:
    """Run an ingest DAG's checkpoint over the rows that arrived on `as_of`; raise if a `fail` check failed."""
    from engagement_warehouse.quality import run_gate
    from engagement_warehouse.quality.derive import staged_batches, staged_volume_batch
    from engagement_warehouse.warehouse.duckdb import connect

    start = datetime.fromisoformat(as_of)
    with connect(get_settings().duckdb_path, read_only=True) as connection:
        batches = staged_batches(
            connection,
            checkpoint,
            "arrival_hour >= ? and arrival_hour < ?",
            [start, start + timedelta(days=1)],
        )
    # Volume against recent runs: the day's rows per table vs the recent landing manifests in the lake.
    batches["staged_volume"] = staged_volume_batch(
        Lake.from_settings(get_settings()), batches, date.fromisoformat(as_of)
    )
    result = run_gate(checkpoint, batches, run_name)
    verdict = _record_gate(checkpoint, as_of, result)
    _raise_if_blocked(result)
    return verdict


def gate_marts(*, as_of: str, run_name: str) -> dict[str, Any]:
    """Run the `build_marts` checkpoint over the export models; raise if a `fail` check failed.

    The export contract (which columns feed which Pinpoint paths, which models are segments) comes from the
    dbt manifest, exactly as the exporter reads it, so the gate checks what will be sent.
    """
    from engagement_warehouse.dbt_config import manifest_path
    from engagement_warehouse.destinations.export_contract import (
        ExportContractError,
        find_export_contract,
        find_segment_models,
        load_manifest,
    )
    from engagement_warehouse.quality import run_gate
    from engagement_warehouse.quality.derive import (
        attribute_catalog,
        declared_freshness_hours,
        export_sources,
        freshness_limit_hours,
        latest_arrival_sql,
        segment_members_sql,
        source_freshness,
    )
    from engagement_warehouse.warehouse.duckdb import connect

    settings = get_settings()
    manifest = load_manifest(manifest_path(settings))
    try:
        contract = find_export_contract(manifest)
        segments = find_segment_models(manifest)
    except ExportContractError as error:
        from airflow.sdk.exceptions import AirflowFailException

        # A broken contract (e.g. two columns feeding one Pinpoint path) is as blocking as bad data, and
        # retrying will not fix it: fail loudly, before any frame is read or anything is exported.
        raise AirflowFailException(
            f"Quality gate 'build_marts' (run {run_name}) FAILED: the export contract in dbt's manifest "
            f"({manifest_path(settings)}) is invalid: {error}. Fix the model's column meta `pinpoint` and "
            "rebuild the manifest; downstream tasks are blocked."
        ) from error
    sources_of = [contract.unique_id, *(segment.unique_id for segment in segments)]
    with connect(settings.duckdb_path, read_only=True) as connection:
        batches = {
            "export_endpoint_segment_attributes": connection.execute(f"select * from {contract.relation}").df(),
            "export_attribute_catalog": attribute_catalog(
                [(contract.id_column, "Id"), *((column.column, column.path) for column in contract.columns)]
            ),
            "export_segments": connection.execute(
                segment_members_sql({segment.segment_name: segment.relation for segment in segments})
            ).df(),
            # Freshness of the raw tables behind the export (dbt lineage), against the end of the as_of day.
            "export_source_freshness": source_freshness(
                connection.execute(latest_arrival_sql(export_sources(manifest, sources_of))).df(),
                interval_end(date.fromisoformat(as_of)),
                freshness_limit_hours(),
                declared_freshness_hours(manifest),
            ),
        }
    result = run_gate("build_marts", batches, run_name)
    verdict = _record_gate("build_marts", as_of, result)
    _raise_if_blocked(result)
    return verdict


def pinpoint_client(settings: Settings) -> Any:
    """A boto3 Pinpoint client with botocore's adaptive retry mode.

    Credentials: the Airflow connection `EWH_AWS_CONN_ID` (default `aws_default`) when it exists, else boto3's
    usual chain (env vars, profile, instance or task role). `EWH_PINPOINT_ENDPOINT_URL` points it at the local
    sandbox; unset in production.
    """
    from engagement_warehouse.destinations.pinpoint.client import make_pinpoint_client

    return make_pinpoint_client(settings.pinpoint_endpoint_url, settings.aws_region, session=_aws_session(settings))


def _aws_session(settings: Settings) -> Any:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    conn_id = os.environ.get("EWH_AWS_CONN_ID", "aws_default")
    try:
        return AwsBaseHook(aws_conn_id=conn_id, region_name=settings.aws_region).get_session()
    except AirflowNotFoundException:
        return None  # no such connection: boto3's default chain


def sync_pinpoint_endpoints(*, as_of: str, run_id: str, dry_run: bool) -> dict[str, Any]:
    """Send the export model's new or changed endpoints with UpdateEndpointsBatch (or preview them)."""
    from engagement_warehouse.dbt_config import manifest_path
    from engagement_warehouse.destinations.pinpoint.sync import sync_endpoint_attributes
    from engagement_warehouse.lake import storage_options
    from engagement_warehouse.warehouse.duckdb import connect

    settings = get_settings()
    day = date.fromisoformat(as_of)
    with connect(settings.duckdb_path) as conn:
        result = sync_endpoint_attributes(
            conn,
            manifest_path(settings),
            None if dry_run else pinpoint_client(settings),
            settings.pinpoint_application_id,
            run_id,
            day,
            rate_per_second=float(os.environ.get("EWH_PINPOINT_REQUESTS_PER_SECOND", "2")),
            dry_run=dry_run,
            lake_url=settings.lake_url,
            run_at=interval_end(day),
            storage_options=storage_options(settings),
        )
    return result.to_dict()


def write_pinpoint_segment_files(*, as_of: str, run_id: str, dry_run: bool) -> list[dict[str, Any]]:
    """Write each non-empty segment's import file under `exports/pinpoint/segments/<segment>/<day>/`."""
    from dataclasses import asdict

    from engagement_warehouse.dbt_config import manifest_path
    from engagement_warehouse.destinations.pinpoint.sync import export_segments
    from engagement_warehouse.lake import storage_options
    from engagement_warehouse.warehouse.duckdb import connect

    settings = get_settings()
    with connect(settings.duckdb_path) as conn:
        exports = export_segments(
            conn,
            manifest_path(settings),
            settings.pinpoint_application_id,
            run_id,
            date.fromisoformat(as_of),
            lake_url=settings.lake_url,
            dry_run=dry_run,
            storage_options=storage_options(settings),
        )
    return [{**asdict(export), "files": list(export.files)} for export in exports]


def check_export_swing(*, as_of: str, run_id: str, approved: bool) -> dict[str, Any]:
    """The circuit breaker: block the export when a segment or the changed endpoints swing too far.

    Compares this run's counts with the last successful export's; a relative swing above
    `EWH_EXPORT_SWING_THRESHOLD` (default 0.30) raises with a message naming the approval param and Variable.
    """
    from engagement_warehouse.dbt_config import manifest_path
    from engagement_warehouse.destinations.export_contract import (
        find_export_contract,
        find_segment_models,
        load_manifest,
    )
    from engagement_warehouse.destinations.pinpoint.sync import destination_name
    from engagement_warehouse.quality.circuit_breaker import check_circuit_breaker
    from engagement_warehouse.quality.export_baseline import export_counts, last_baseline
    from engagement_warehouse.warehouse.duckdb import connect

    settings = get_settings()
    manifest = load_manifest(manifest_path(settings))
    destination = destination_name(settings.pinpoint_application_id)
    with connect(settings.duckdb_path) as conn:
        counts = export_counts(conn, find_export_contract(manifest), find_segment_models(manifest), destination)
        previous = last_baseline(conn, destination)
    threshold = float(os.environ.get("EWH_EXPORT_SWING_THRESHOLD", "0.30"))
    result = check_circuit_breaker(counts, previous, threshold=threshold, approved=approved)
    log.info("%s counts %s", result.message(), counts)
    if result.blocked:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(result.message())
    return {"as_of": as_of, "counts": counts, "message": result.message()}


def record_export_baseline(*, as_of: str, run_id: str, counts: dict[str, int]) -> None:
    """After a successful export: its counts become the circuit breaker's next baseline."""
    from engagement_warehouse.destinations.pinpoint.sync import destination_name
    from engagement_warehouse.quality.export_baseline import record_baseline
    from engagement_warehouse.warehouse.duckdb import connect

    settings = get_settings()
    with connect(settings.duckdb_path) as conn:
        record_baseline(
            conn,
            destination_name(settings.pinpoint_application_id),
            run_id,
            date.fromisoformat(as_of),
            counts,
            interval_end(date.fromisoformat(as_of)),
        )


def write_sync_report() -> str:
    """Write the HTML sync report (<local dir>/reports/sync_report.html) from the sync ledger; return its path."""
    from engagement_warehouse.reporting.sync_report import default_report_path
    from engagement_warehouse.reporting.sync_report import write_sync_report as write
    from engagement_warehouse.warehouse.duckdb import connect

    settings = get_settings()
    with connect(settings.duckdb_path, read_only=True) as conn:
        return str(write(conn, default_report_path(settings.local_dir)))
