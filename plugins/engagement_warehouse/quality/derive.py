"""Build the frames the gate validates: staged tables, derived row-pair frames and export catalogs.

Row-pair quirks (an open before its delivery, many deliveries for one message) cannot be expressed on the
event rows themselves, so they are checked on a derived frame, `pinpoint_message_timeline`: one row per
message_id. It is derived in pandas from the staged events frame the gate already reads (dialect-free),
or in SQL on DuckDB with MESSAGE_TIMELINE_SQL; both give the same columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engagement_warehouse.quality import specs

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

DELIVERY_EVENT_TYPES = ("_email.delivered", "_SMS.SUCCESS")
OPEN_EVENT_TYPES = ("_email.open",)
TIMELINE_COLUMNS = ["message_id", "channel", "delivery_count", "first_delivered_at", "first_open_at"]
CUSTOM_ATTRIBUTE_PREFIXES = ("Attributes.", "Metrics.", "User.UserAttributes.")

RAW_TABLES: dict[str, str] = {
    "raw_clickstream_events": "raw.clickstream_events",
    "raw_pinpoint_events": "raw.pinpoint_events",
    "raw_pinpoint_endpoints": "raw.pinpoint_endpoints",
}
"""Staged asset -> warehouse relation. Partner assets `raw_partner_<p>` map to `raw.partner_<p>`."""

MESSAGE_TIMELINE_SQL = """
with message_events as (
    select
        event_id,
        event_type,
        arrival_at,
        coalesce(
            json_extract_string(facets, '$.email_channel.mail_event.mail.message_id'),
            json_extract_string(attributes, '$.message_id')
        ) as message_id,
        case
            when starts_with(event_type, '_email.') then 'email'
            when starts_with(event_type, '_SMS.') then 'sms'
        end as channel
    from {relation}
    {where}
)
select
    message_id,
    min(channel) as channel,
    count(distinct event_id)
        filter (where event_type in ('_email.delivered', '_SMS.SUCCESS')) as delivery_count,
    min(arrival_at)
        filter (where event_type in ('_email.delivered', '_SMS.SUCCESS')) as first_delivered_at,
    min(arrival_at) filter (where event_type = '_email.open') as first_open_at
from message_events
where message_id is not null and channel is not null
group by message_id
order by message_id
"""
"""DuckDB SQL for `pinpoint_message_timeline`; `.format(relation=..., where="where ..." or "")`."""


def raw_relation(asset: str) -> str:
    """The warehouse relation of a staged asset (`raw_partner_acme_loyalty` -> `raw.partner_acme_loyalty`)."""
    if asset in RAW_TABLES:
        return RAW_TABLES[asset]
    if asset.startswith("raw_partner_"):
        return f"raw.{asset.removeprefix('raw_')}"
    raise KeyError(f"{asset!r} is not a staged asset")


def _json_get(text: Any, *path: str) -> Any:
    if not isinstance(text, str) or not text:
        return None
    try:
        value: Any = json.loads(text)
    except ValueError:
        return None
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value if isinstance(value, str) and value else None


def message_timeline(events: pd.DataFrame) -> pd.DataFrame:
    """Derive `pinpoint_message_timeline` from a raw_pinpoint_events frame (same result as the SQL).

    message_id comes from the email facet (`facets.email_channel.mail_event.mail.message_id`) or, for
    SMS, from `attributes.message_id`. Events counted once per event_id (raw rows may repeat).
    """
    import pandas as pd

    if events.empty:
        frame = pd.DataFrame({column: pd.Series(dtype="object") for column in TIMELINE_COLUMNS})
        frame["delivery_count"] = frame["delivery_count"].astype("int64")
        for column in ("first_delivered_at", "first_open_at"):
            frame[column] = frame[column].astype("datetime64[us]")
        return frame
    work = events[["event_id", "event_type", "arrival_at", "facets", "attributes"]].copy()
    email_id = work["facets"].map(lambda t: _json_get(t, "email_channel", "mail_event", "mail", "message_id"))
    sms_id = work["attributes"].map(lambda t: _json_get(t, "message_id"))
    work["message_id"] = email_id.where(email_id.notna(), sms_id)
    event_type = work["event_type"].astype("object")
    work["channel"] = None
    work.loc[event_type.str.startswith("_email.").fillna(False).astype(bool), "channel"] = "email"
    work.loc[event_type.str.startswith("_SMS.").fillna(False).astype(bool), "channel"] = "sms"
    work = work[work["message_id"].notna() & work["channel"].notna()]

    deliveries = work[work["event_type"].isin(DELIVERY_EVENT_TYPES)]
    opens = work[work["event_type"].isin(OPEN_EVENT_TYPES)]
    grouped = work.groupby("message_id", sort=True)
    frame = pd.DataFrame({"channel": grouped["channel"].min()})
    frame["delivery_count"] = deliveries.groupby("message_id")["event_id"].nunique()
    frame["first_delivered_at"] = deliveries.groupby("message_id")["arrival_at"].min()
    frame["first_open_at"] = opens.groupby("message_id")["arrival_at"].min()
    frame["delivery_count"] = frame["delivery_count"].fillna(0).astype("int64")
    frame = frame.reset_index()
    return frame[TIMELINE_COLUMNS]


def custom_attribute_name(pinpoint_path: str) -> str | None:
    """`Attributes.X`, `Metrics.X`, `User.UserAttributes.X` -> `X`; standard fields (Id, Address) -> None."""
    for prefix in CUSTOM_ATTRIBUTE_PREFIXES:
        if pinpoint_path.startswith(prefix):
            return pinpoint_path[len(prefix) :]
    return None


def attribute_catalog(columns: Iterable[tuple[str, str]]) -> pd.DataFrame:
    """The `export_attribute_catalog` frame: one row per exported (column_name, pinpoint_path).

    Feed it from the dbt manifest, e.g. with destinations.export_contract:
    `attribute_catalog([(c.id_column, "Id"), *((col.column, col.path) for col in c.columns)])`.
    """
    import pandas as pd

    rows = [
        {"column_name": column, "pinpoint_path": path, "attribute_name": custom_attribute_name(path)}
        for column, path in columns
    ]
    return pd.DataFrame(rows, columns=["column_name", "pinpoint_path", "attribute_name"], dtype="object")


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def segment_members_sql(
    segments: Mapping[str, str],
    attributes_relation: str = "marts.endpoint_segment_attributes",
    member_id_column: str = "endpoint_id",
) -> str:
    """SQL for the `export_segments` frame: segment members joined to their exported endpoint attributes.

    `segments` maps the Pinpoint segment name (model meta `pinpoint_segment`) to the segment model's
    relation. Columns: segment_name, endpoint_id, opt_out, address. A member without an exported endpoint
    keeps its endpoint_id with null opt_out/address. Portable SQL (DuckDB, Redshift, Athena).
    """
    if not segments:
        raise ValueError("segment_members_sql needs at least one segment")
    members = "\n    union all\n    ".join(
        f"select {_sql_literal(name)} as segment_name, {member_id_column} as endpoint_id from {relation}"
        for name, relation in sorted(segments.items())
    )
    return (
        f"with members as (\n    {members}\n)\n"
        "select members.segment_name, members.endpoint_id, endpoints.opt_out, endpoints.address\n"
        f"from members\nleft join {attributes_relation} as endpoints\n"
        "    on endpoints.endpoint_id = members.endpoint_id\n"
        "order by members.segment_name, members.endpoint_id"
    )


def staged_batches(
    con: duckdb.DuckDBPyConnection,
    checkpoint: str,
    where: str | None = None,
    parameters: Sequence[Any] | None = None,
) -> dict[str, pd.DataFrame]:
    """Read every staged asset of an ingest checkpoint from DuckDB (plus derived frames it validates).

    `where` (e.g. `arrival_hour >= ? and arrival_hour < ?`, with `parameters`) restricts each table to the
    run's data interval; every staged table has `arrival_hour`. The message timeline is derived in pandas
    from the events frame read here, so it covers the same rows. `staged_volume` needs the lake's landing
    manifests: the caller adds it with `staged_volume_batch(lake, batches, day)`.
    """
    assets = specs.checkpoints()[checkpoint]
    clause = f" where {where}" if where else ""
    batches: dict[str, pd.DataFrame] = {}
    for asset in assets:
        if asset in ("pinpoint_message_timeline", "staged_volume"):
            continue
        batches[asset] = con.execute(f"select * from {raw_relation(asset)}{clause}", parameters or []).df()
    if "pinpoint_message_timeline" in assets:
        batches["pinpoint_message_timeline"] = message_timeline(batches["raw_pinpoint_events"])
    return batches


FRESHNESS_HOURS_ENV = "EWH_SOURCE_FRESHNESS_HOURS"
DEFAULT_FRESHNESS_HOURS = 48.0
FRESHNESS_COLUMNS = specs.FRESHNESS_COLUMNS


def freshness_limit_hours(environ: Mapping[str, str] | None = None) -> float:
    """How old (hours before the run's day end) the newest row of a source behind the export may be.

    `$EWH_SOURCE_FRESHNESS_HOURS`, default 48: a daily feed may skip one day before the export stops.
    """
    return _number_setting(FRESHNESS_HOURS_ENV, DEFAULT_FRESHNESS_HOURS, environ, above=0, meaning="positive")


def _number_setting(
    name: str, default: float, environ: Mapping[str, str] | None, *, above: float, meaning: str
) -> float:
    """The number in `$name` (default when unset), which must be greater than `above` (`meaning` says so)."""
    import os

    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if value <= above:
        raise ValueError(f"{name}={raw!r} must be {meaning}")
    return value


def export_sources(manifest: Mapping[str, Any], unique_ids: Iterable[str]) -> list[tuple[str, str, str]]:
    """The dbt sources the given models are built from (transitively), from the manifest's lineage.

    Returns sorted `(name, relation, loaded_at_field)` such as `("raw.pinpoint_events",
    '"raw"."pinpoint_events"', "arrival_hour")`: the raw tables whose freshness the export depends on.
    The relation is schema-qualified only, so it resolves in the connection's current database.
    """
    parent_map: Mapping[str, Sequence[str]] = manifest.get("parent_map") or {}
    nodes: Mapping[str, Any] = manifest.get("nodes", {})
    sources: Mapping[str, Any] = manifest.get("sources", {})

    def parents(unique_id: str) -> Sequence[str]:
        if unique_id in parent_map:
            return parent_map[unique_id]
        return nodes.get(unique_id, {}).get("depends_on", {}).get("nodes", [])

    seen: set[str] = set()
    pending = list(unique_ids)
    while pending:
        for parent in parents(pending.pop()):
            if parent not in seen:
                seen.add(parent)
                pending.append(parent)
    found = []
    for unique_id in sorted(seen & set(sources)):
        source = sources[unique_id]
        table = source.get("identifier") or source["name"]
        found.append(
            (
                f"{source['schema']}.{table}",
                f'"{source["schema"]}"."{table}"',
                source.get("loaded_at_field") or "arrival_hour",
            )
        )
    return found


def latest_arrival_sql(sources: Sequence[tuple[str, str, str]]) -> str:
    """Portable SQL: one row per source with its newest load time (`source_table, latest_arrival_hour`)."""
    if not sources:
        raise ValueError("latest_arrival_sql needs at least one source")
    return "\nunion all\n".join(
        f"select {_sql_literal(name)} as source_table, max({loaded_at}) as latest_arrival_hour from {relation}"
        for name, relation, loaded_at in sources
    )


_PERIOD_HOURS = {"minute": 1 / 60, "hour": 1.0, "day": 24.0}


def declared_freshness_hours(manifest: Mapping[str, Any]) -> dict[str, float]:
    """Each dbt source's `freshness.error_after`, in hours, keyed like `export_sources` names (`raw.<table>`).

    The freshness contract of a source lives once, in dbt's sources.yml (a weekly partner feed declares a week);
    the gate reads it from the manifest. Sources without one fall back to `freshness_limit_hours()`.
    """
    limits: dict[str, float] = {}
    for source in (manifest.get("sources") or {}).values():
        error_after = ((source.get("freshness") or {}).get("error_after")) or {}
        count, period = error_after.get("count"), error_after.get("period")
        if count is None or period not in _PERIOD_HOURS:
            continue
        table = source.get("identifier") or source["name"]
        limits[f"{source['schema']}.{table}"] = float(count) * _PERIOD_HOURS[period]
    return limits


def source_freshness(
    latest: pd.DataFrame, run_end: Any, max_hours: float, per_source: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """The `export_source_freshness` frame from `latest_arrival_sql`'s result.

    `hours_behind` = hours from a source's newest row to `run_end` (the end of the run's as_of day, naive
    UTC like `arrival_hour`); null when the source has no row at all. `max_hours_behind` is each source's own
    limit (`per_source`, from dbt's declared freshness) or `max_hours`, repeated on each row so the rule
    (hours_behind <= max_hours_behind) stays a plain GX column-pair expectation.
    """
    import pandas as pd

    frame = latest[["source_table", "latest_arrival_hour"]].copy()
    frame["source_table"] = frame["source_table"].astype("object")
    frame["latest_arrival_hour"] = pd.to_datetime(frame["latest_arrival_hour"]).astype("datetime64[us]")
    behind = pd.Timestamp(run_end) - frame["latest_arrival_hour"]
    frame["hours_behind"] = (behind.dt.total_seconds() / 3600.0).astype("float64")
    limits = per_source or {}
    frame["max_hours_behind"] = [float(limits.get(name, max_hours)) for name in frame["source_table"]]
    frame["max_hours_behind"] = frame["max_hours_behind"].astype("float64")
    return frame[FRESHNESS_COLUMNS].sort_values("source_table", ignore_index=True)


VOLUME_FACTOR_ENV = "EWH_VOLUME_FACTOR"
DEFAULT_VOLUME_FACTOR = 3.0
VOLUME_HISTORY_DAYS = 7
VOLUME_MIN_HISTORY_DAYS = 3
VOLUME_COLUMNS = specs.VOLUME_COLUMNS


def volume_factor(environ: Mapping[str, str] | None = None) -> float:
    """How far (as a factor) a day's staged rows may fall below or rise above the recent median before a warning.

    `$EWH_VOLUME_FACTOR`, default 3: fewer than a third, or more than three times, the usual rows.
    """
    return _number_setting(VOLUME_FACTOR_ENV, DEFAULT_VOLUME_FACTOR, environ, above=1, meaning="greater than 1")


def landed_rows_by_day(lake: Any, source: str, day: Any, history_days: int = VOLUME_HISTORY_DAYS) -> dict[str, int]:
    """Rows staged per logical day over the `history_days` days before `day`, from the landing manifests.

    Reads `manifests/landing/<source>/<day>/*.json` (one per landing run: reruns add their rows, usually 0)
    through `lake` (an engagement_warehouse.lake.Lake). Days without any manifest are left out, so a new
    source or a gap in the history does not count as a day with zero rows.
    """
    from datetime import timedelta

    totals: dict[str, int] = {}
    for back in range(1, history_days + 1):
        logical = (day - timedelta(days=back)).isoformat()
        objects = [o for o in lake.list_objects(f"manifests/landing/{source}/{logical}/") if o.key.endswith(".json")]
        if objects:
            totals[logical] = sum(int(json.loads(lake.read_bytes(o.key)).get("rows_staged", 0)) for o in objects)
    return totals


def staged_volume(
    rows_today: Mapping[str, int],
    history: Mapping[str, Mapping[str, int]],
    factor: float,
    min_history_days: int = VOLUME_MIN_HISTORY_DAYS,
) -> pd.DataFrame:
    """The `staged_volume` frame: per staged table, the day's rows against the median of recent days.

    `rows_today`: table -> rows staged for the run's day; `history`: table -> {day: rows} (landed_rows_by_day).
    The expected band is [median / factor, median * factor]; it is null (nothing to compare) while fewer than
    `min_history_days` days of history exist, e.g. right after a backfill.
    """
    import pandas as pd

    rows = []
    for table in sorted(rows_today):
        days = list(history.get(table, {}).values())
        baseline = float(pd.Series(days, dtype="float64").median()) if len(days) >= min_history_days else None
        rows.append(
            {
                "source_table": table,
                "rows_today": int(rows_today[table]),
                "baseline_rows": baseline,
                "history_days": len(days),
                "min_expected_rows": None if baseline is None else baseline / factor,
                "max_expected_rows": None if baseline is None else baseline * factor,
            }
        )
    frame = pd.DataFrame(rows, columns=VOLUME_COLUMNS)
    frame["source_table"] = frame["source_table"].astype("object")
    frame["rows_today"] = frame["rows_today"].astype("int64")
    frame["history_days"] = frame["history_days"].astype("int64")
    for column in ("baseline_rows", "min_expected_rows", "max_expected_rows"):
        frame[column] = frame[column].astype("float64")
    return frame


def staged_volume_batch(lake: Any, batches: Mapping[str, pd.DataFrame], day: Any) -> pd.DataFrame:
    """`staged_volume` for the staged assets among `batches` (each frame = the day's rows of one table)."""
    from engagement_warehouse.sources import all_sources

    source_of = {f"raw_{source.table}": source.name for source in all_sources()}
    rows_today: dict[str, int] = {}
    history: dict[str, dict[str, int]] = {}
    for asset, frame in batches.items():
        if asset in source_of:
            table = raw_relation(asset)
            rows_today[table] = len(frame)
            history[table] = landed_rows_by_day(lake, source_of[asset], day)
    return staged_volume(rows_today, history, volume_factor())
