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
    from the events frame read here, so it covers the same rows.
    """
    assets = specs.checkpoints()[checkpoint]
    clause = f" where {where}" if where else ""
    batches: dict[str, pd.DataFrame] = {}
    for asset in assets:
        if asset == "pinpoint_message_timeline":
            continue
        batches[asset] = con.execute(f"select * from {raw_relation(asset)}{clause}", parameters or []).df()
    if "pinpoint_message_timeline" in assets:
        batches["pinpoint_message_timeline"] = message_timeline(batches["raw_pinpoint_events"])
    return batches
