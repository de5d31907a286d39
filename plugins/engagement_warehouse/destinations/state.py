"""Last-synced endpoint state and the desired-vs-synced diff, kept in the warehouse (schema `ewh_sync`).

Why in the warehouse: state that must survive a crash never lives in XCom or memory (DESIGN.md).

Tables (created idempotently by `ensure_sync_schema`):
- `ewh_sync.endpoint_state(destination, endpoint_id, attribute_hash, attributes_json, synced_at, run_id)`:
  what the destination last *accepted* for each endpoint. A row is written only after the destination
  accepted the batch holding the endpoint (see `commit_endpoint_state`).
- `ewh_sync.segment_registry(destination, segment_model, segment_name, segment_id, first_job_id)`:
  the destination's segment id per segment model, so re-runs import into the same segment.
- `ewh_sync.sync_runs` / `ewh_sync.sync_items`: the sync ledger (see `destinations/ledger.py`).

Desired state and diff: the export model's rows are mapped to destination paths *in SQL* into one
canonical JSON object per endpoint (keys sorted by path, custom attributes as lists of strings, metrics as
doubles, empty strings and empty lists normalised to null) and hashed with `md5`. The diff is an
anti-join on (endpoint_id, hash) materialised into a temporary plan table and read back in pages, so
memory stays flat whatever the number of endpoints (DuckDB does the heavy lifting and spills if needed).

Clearing: a value that becomes null (or empty) stays in the canonical JSON as `null`, so the hash changes
and the endpoint is planned; the Pinpoint payload builder then sends custom attributes as `[]`, which
overwrites (clears) the stale value. Metrics cannot be emptied through UpdateEndpointsBatch (their values
are numbers only), so a null metric is dropped from the payload and the item records that the stale
metric was left in place.

Endpoints that disappeared upstream (in the state table but no longer in the export model) are reported
by `disappeared_endpoints_sql`; they are not deleted in the destination, and their state rows are kept
(if they come back unchanged, nothing needs sending, because the destination still holds them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from engagement_warehouse.destinations.base import EndpointRecord
from engagement_warehouse.destinations.export_contract import ExportColumn, ExportContract

log = logging.getLogger(__name__)

SCHEMA = "ewh_sync"
PLAN_TABLE = "ewh_sync_endpoint_plan"  # temporary, per connection (DuckDB spills it to disk if needed)

DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {SCHEMA}.endpoint_state (
    destination varchar not null,
    endpoint_id varchar not null,
    attribute_hash varchar not null,
    attributes_json varchar not null,
    synced_at timestamp not null,
    run_id varchar not null,
    primary key (destination, endpoint_id)
);
create table if not exists {SCHEMA}.segment_registry (
    destination varchar not null,
    segment_model varchar not null,
    segment_name varchar not null,
    segment_id varchar,
    first_job_id varchar,
    primary key (destination, segment_model)
);
create table if not exists {SCHEMA}.sync_runs (
    run_id varchar not null,
    destination varchar not null,
    step varchar not null,
    logical_date date not null,
    started_at timestamp,
    finished_at timestamp,
    dry_run boolean not null,
    endpoints_planned bigint,
    endpoints_sent bigint,
    endpoints_accepted bigint,
    endpoints_failed bigint,
    status varchar not null,
    primary key (run_id, destination, step)
);
create table if not exists {SCHEMA}.sync_items (
    run_id varchar not null,
    destination varchar not null,
    item_type varchar not null,
    item_id varchar not null,
    outcome varchar not null,
    reason varchar,
    attempt_at timestamp,
    job_id varchar,
    segment_id varchar,
    rows bigint,
    job_status varchar,
    duration_seconds double,
    primary key (run_id, destination, item_type, item_id)
);
"""


def ensure_sync_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create schema `ewh_sync` and its tables if missing (idempotent)."""
    conn.execute(DDL)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _column_types(conn: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = conn.execute(f"describe select * from {relation}").fetchall()
    return {row[0]: str(row[1]).upper() for row in rows}


def _value_sql(column: ExportColumn, column_type: str) -> str:
    """SQL for one column's canonical value: list of strings, double, or string; null when empty."""
    ref = _quote(column.column)
    if column.is_metric:
        return f"try_cast({ref} as double)"
    if column.is_multi_valued:
        if column_type.endswith("[]"):
            values = f"list_transform({ref}, lambda x: cast(x as varchar))"
        elif column.multi_value_separator:
            values = f"string_split(cast({ref} as varchar), {_literal(column.multi_value_separator)})"
        else:
            values = f"[cast({ref} as varchar)]"
        cleaned = f"list_filter({values}, lambda x: x is not null and x <> '')"
        return f"(case when len({cleaned}) > 0 then {cleaned} end)"
    if column_type.startswith("TIMESTAMP"):  # ISO 8601, as Pinpoint's EffectiveDate expects
        return f"strftime({ref}, '%Y-%m-%dT%H:%M:%SZ')"
    return f"nullif(cast({ref} as varchar), '')"


def desired_state_sql(conn: duckdb.DuckDBPyConnection, contract: ExportContract) -> str:
    """A query returning (endpoint_id, attributes_json, attribute_hash) for every exported endpoint."""
    types = _column_types(conn, contract.relation)
    missing = [c.column for c in contract.columns if c.column not in types]
    if contract.id_column not in types:
        missing.append(contract.id_column)
    if missing:
        raise ValueError(f"{contract.relation} lacks the contract's columns {missing}")
    pairs = ", ".join(
        f"{_literal(c.path)}, {_value_sql(c, types[c.column])}" for c in sorted(contract.columns, key=lambda c: c.path)
    )
    return f"""
        select endpoint_id, attributes_json, md5(attributes_json) as attribute_hash
        from (
            select cast({_quote(contract.id_column)} as varchar) as endpoint_id,
                   cast(json_object({pairs}) as varchar) as attributes_json
            from {contract.relation}
            where {_quote(contract.id_column)} is not null
        )
    """


@dataclass(frozen=True, slots=True)
class EndpointPlan:
    """The planned (new or changed) endpoints, materialised in temp table `table`."""

    table: str
    destination: str
    desired: int  # endpoints in the export model
    changed: int  # new or changed endpoints (rows in the plan)
    new: int  # of which never synced before
    disappeared: int  # synced before, gone from the export model


def build_endpoint_plan(conn: duckdb.DuckDBPyConnection, contract: ExportContract, destination: str) -> EndpointPlan:
    """Materialise the diff (new or changed endpoints, by hash) into a temporary plan table.

    Raises ValueError if the export model has duplicate endpoint ids (a data bug the dbt tests should
    have caught: the two versions would win in turn and the endpoint would flip-flop every run).
    """
    ensure_sync_schema(conn)
    desired_sql = desired_state_sql(conn, contract)
    conn.execute(
        f"""
        create or replace temp table {PLAN_TABLE} as
        with desired as ({desired_sql})
        select d.endpoint_id, d.attributes_json, d.attribute_hash,
               s.attributes_json as previous_json,
               row_number() over (order by d.endpoint_id) as seq
        from desired d
        left join {SCHEMA}.endpoint_state s
          on s.destination = $destination and s.endpoint_id = d.endpoint_id
        where s.attribute_hash is distinct from d.attribute_hash
        """,
        {"destination": destination},
    )
    id_column = _quote(contract.id_column)
    desired, distinct = conn.execute(
        f"select count(*), count(distinct cast({id_column} as varchar)) from {contract.relation} "
        f"where {id_column} is not null"
    ).fetchone()
    if desired != distinct:
        raise ValueError(f"{contract.relation} has {desired - distinct} duplicate endpoint ids")
    changed, new = conn.execute(
        f"select count(*), count(*) filter (where previous_json is null) from {PLAN_TABLE}"
    ).fetchone()
    disappeared = conn.execute(
        f"select count(*) from ({disappeared_endpoints_sql(contract)})", {"destination": destination}
    ).fetchone()[0]
    plan = EndpointPlan(PLAN_TABLE, destination, desired, changed, new, disappeared)
    log.info(
        "endpoint plan for %s: %d desired, %d changed (%d new), %d disappeared upstream",
        destination,
        desired,
        changed,
        new,
        disappeared,
    )
    return plan


def disappeared_endpoints_sql(contract: ExportContract) -> str:
    """Query (parameter `$destination`) of synced endpoint ids no longer in the export model."""
    return f"""
        select s.endpoint_id
        from {SCHEMA}.endpoint_state s
        where s.destination = $destination
          and not exists (
              select 1 from {contract.relation} m
              where cast(m.{_quote(contract.id_column)} as varchar) = s.endpoint_id
          )
    """


def iter_plan(conn: duckdb.DuckDBPyConnection, plan: EndpointPlan, page_size: int = 10_000) -> Iterator[EndpointRecord]:
    """Yield the planned endpoints in id order, one page (fully fetched) at a time.

    Each page is fetched completely before records are yielded, so the caller may run other statements
    (state commits) on the same connection between records.
    """
    last = 0
    while True:
        rows = conn.execute(
            f"select seq, endpoint_id, attributes_json from {plan.table} where seq > ? order by seq limit ?",
            [last, page_size],
        ).fetchall()
        if not rows:
            return
        for seq, endpoint_id, attributes_json in rows:
            last = seq
            yield EndpointRecord(endpoint_id=endpoint_id, attributes=json.loads(attributes_json))


def commit_endpoint_state(
    conn: duckdb.DuckDBPyConnection,
    plan: EndpointPlan,
    endpoint_ids: Sequence[str],
    synced_at: datetime,
    run_id: str,
) -> None:
    """Record `endpoint_ids` (accepted by the destination) as synced, with their planned hash and payload.

    `synced_at` comes from the caller's run clock, so a rerun of the same logical date writes the same
    values.
    """
    if not endpoint_ids:
        return
    conn.execute(
        f"""
        insert into {SCHEMA}.endpoint_state
            (destination, endpoint_id, attribute_hash, attributes_json, synced_at, run_id)
        select $destination, p.endpoint_id, p.attribute_hash, p.attributes_json, $synced_at, $run_id
        from {plan.table} p
        where p.endpoint_id in (select unnest($ids::varchar[]))
        on conflict (destination, endpoint_id) do update set
            attribute_hash = excluded.attribute_hash,
            attributes_json = excluded.attributes_json,
            synced_at = excluded.synced_at,
            run_id = excluded.run_id
        """,
        {
            "destination": plan.destination,
            "synced_at": synced_at,
            "run_id": run_id,
            "ids": list(endpoint_ids),
        },
    )


def commit_whole_plan_state(
    conn: duckdb.DuckDBPyConnection,
    plan: EndpointPlan,
    synced_at: datetime,
    run_id: str,
    exclude_ids: Sequence[str] = (),
) -> int:
    """Record every planned endpoint except `exclude_ids` as synced (set-based, for bulk imports)."""
    conn.execute(
        f"""
        insert into {SCHEMA}.endpoint_state
            (destination, endpoint_id, attribute_hash, attributes_json, synced_at, run_id)
        select $destination, p.endpoint_id, p.attribute_hash, p.attributes_json, $synced_at, $run_id
        from {plan.table} p
        where p.endpoint_id not in (select unnest($exclude::varchar[]))
        on conflict (destination, endpoint_id) do update set
            attribute_hash = excluded.attribute_hash,
            attributes_json = excluded.attributes_json,
            synced_at = excluded.synced_at,
            run_id = excluded.run_id
        """,
        {
            "destination": plan.destination,
            "synced_at": synced_at,
            "run_id": run_id,
            "exclude": list(exclude_ids),
        },
    )
    return plan.changed - len(set(exclude_ids))


def attribute_changes(
    conn: duckdb.DuckDBPyConnection, plan: EndpointPlan, paths: Sequence[str], top: int = 5
) -> list[dict[str, object]]:
    """Per attribute path: how many planned endpoints change it, and the most frequent from -> to pairs.

    Used by the dry-run report. Values are compared as JSON text (null when absent or empty).
    """
    report: list[dict[str, object]] = []
    for path in paths:
        json_path = _literal('$."' + path.replace('"', '\\"') + '"')
        rows = conn.execute(
            f"""
            with pairs as (
                select cast(json_extract(previous_json, {json_path}) as varchar) as old_value,
                       cast(json_extract(attributes_json, {json_path}) as varchar) as new_value,
                       previous_json is null as is_new
                from {plan.table}
            ),
            changed as (
                select * from pairs
                where is_new or old_value is distinct from new_value
            )
            select (select count(*) from changed) as total,
                   old_value, new_value, count(*) as n
            from changed
            group by old_value, new_value
            order by n desc, old_value nulls first, new_value nulls first
            limit {int(top)}
            """
        ).fetchall()
        total = rows[0][0] if rows else 0
        report.append(
            {
                "path": path,
                "endpoints_changed": total,
                "top_changes": [
                    {"from": _json_or_none(old), "to": _json_or_none(new), "endpoints": n} for _, old, new, n in rows
                ],
            }
        )
    return report


def _json_or_none(text: str | None) -> object:
    if text is None:
        return None
    value = json.loads(text)
    return value


def get_segment_id(conn: duckdb.DuckDBPyConnection, destination: str, segment_model: str) -> str | None:
    """The destination segment id recorded for `segment_model`, if any."""
    ensure_sync_schema(conn)
    row = conn.execute(
        f"select segment_id from {SCHEMA}.segment_registry where destination = ? and segment_model = ?",
        [destination, segment_model],
    ).fetchone()
    return row[0] if row else None


def record_segment_id(
    conn: duckdb.DuckDBPyConnection,
    destination: str,
    segment_model: str,
    segment_name: str,
    segment_id: str | None,
    job_id: str | None,
) -> None:
    """Upsert the registry row; a known segment id is never replaced by null."""
    ensure_sync_schema(conn)
    conn.execute(
        f"""
        insert into {SCHEMA}.segment_registry
            (destination, segment_model, segment_name, segment_id, first_job_id)
        values (?, ?, ?, ?, ?)
        on conflict (destination, segment_model) do update set
            segment_name = excluded.segment_name,
            segment_id = coalesce(segment_registry.segment_id, excluded.segment_id),
            first_job_id = coalesce(segment_registry.first_job_id, excluded.first_job_id)
        """,
        [destination, segment_model, segment_name, segment_id, job_id],
    )
