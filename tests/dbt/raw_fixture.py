"""A small, deterministic `raw` schema for exercising the dbt project on DuckDB.

Columns follow engagement_warehouse.sources.staged_schemas (and the acme_loyalty contract), with the
realistic quirks staging must handle: duplicate landings, events after the as_of day, several endpoint
exports and partner files, anonymous browsing before a login, email events arriving after their send.
Users are built so that every segment model has members on as_of = 2026-11-22.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

AS_OF = datetime(2026, 11, 22)

_DDL = """
create schema raw;
create table raw.clickstream_events(
    message_id varchar not null, type varchar not null, event varchar, name varchar, anonymous_id varchar,
    user_id varchar, event_at timestamp not null, original_timestamp timestamp, sent_at timestamp,
    received_at timestamp, context varchar, properties varchar, traits varchar, extra varchar,
    source_key varchar not null, source_line bigint not null, arrival_hour timestamp not null);
create table raw.pinpoint_events(
    event_id varchar not null, event_type varchar not null, event_at timestamp not null,
    arrival_at timestamp not null, event_version varchar, application_id varchar, client_id varchar,
    cognito_id varchar, session_id varchar, session_start_at timestamp, session_stop_at timestamp,
    aws_account_id varchar, attributes varchar, metrics varchar, facets varchar, device varchar,
    endpoint varchar, extra varchar, source_key varchar not null, source_line bigint not null,
    arrival_hour timestamp not null);
create table raw.pinpoint_endpoints(
    endpoint_id varchar not null, application_id varchar, address varchar, channel_type varchar,
    endpoint_status varchar, opt_out varchar, effective_at timestamp, created_at timestamp, cohort_id varchar,
    user_id varchar, user_attributes varchar, attributes varchar, metrics varchar, demographic varchar,
    location varchar, export_date date not null, source_key varchar not null, source_line bigint not null,
    arrival_hour timestamp not null);
create table raw.partner_acme_loyalty(
    email_sha256 varchar, loyalty_tier varchar, points_balance bigint, member_since date, file_date date,
    source_key varchar not null, source_line bigint not null, arrival_hour timestamp not null);
"""

PRODUCTS = {
    "outerwear": [("sku-ow-1", 120.0), ("sku-ow-2", 90.0), ("sku-ow-3", 250.0), ("sku-ow-4", 60.0)],
    "footwear": [("sku-fw-1", 80.0), ("sku-fw-2", 140.0)],
}

# (user, days from first visit to as_of, days from last visit to as_of, category, orders, order value)
USERS = [
    ("u001", 200, 1, "outerwear", 2, 120.0),  # active, bought sku-ow-1, cart abandoned yesterday
    ("u002", 300, 100, "outerwear", 3, 250.0),  # high value, lapsed
    ("u003", 10, 2, "footwear", 0, 0.0),  # new
    ("u004", 400, 40, "footwear", 1, 80.0),  # at risk
    ("u005", 500, 300, "outerwear", 0, 0.0),  # churned
]


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def build_raw_warehouse(path: Path) -> None:
    """Create (or replace) the DuckDB file at `path` with a populated `raw` schema."""
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(_DDL)
        clicks: list[tuple] = []

        def click(type_: str, anon: str, user: str | None, at: datetime, **kw: object) -> None:
            n = len(clicks) + 1
            context = {
                "device": {"type": "iOS" if n % 2 else "desktop"},
                "location": {"country": "us"},
                "page": {"path": f"/p/{n}"},
                "ip": "203.0.113.9",
            }
            clicks.append(
                (
                    f"msg-{n:04d}",
                    type_,
                    kw.get("event"),
                    kw.get("name"),
                    anon,
                    user,
                    at,
                    at,
                    at,
                    at + timedelta(seconds=1),
                    json.dumps(context),
                    json.dumps(kw.get("props") or {}),
                    json.dumps(kw.get("traits") or {}),
                    None,
                    f"raw/clickstream/{at:%Y/%m/%d/%H}/b.jsonl",
                    n,
                    _hour(at),
                )
            )

        for index, (user, first_days, last_days, category, orders, value) in enumerate(USERS):
            anon = f"anon-{index}"
            first = AS_OF - timedelta(days=first_days) + timedelta(hours=10)
            sku, price = PRODUCTS[category][0]
            # anonymous browsing, then a login: stitching must attribute the browsing to the user
            click(
                "track",
                anon,
                None,
                first,
                event="Product Viewed",
                props={"product_id": sku, "category": category, "price": price},
            )
            click("page", anon, None, first + timedelta(minutes=5), name="Home")
            click(
                "identify",
                anon,
                user,
                first + timedelta(minutes=10),
                traits={"email": f" {user.upper()}@Example.com "},
            )
            for k in range(orders):
                at = AS_OF - timedelta(days=last_days + 5 + k * 7) + timedelta(hours=9)
                cart = f"cart-{user}-{k}"
                click(
                    "track",
                    anon,
                    user,
                    at,
                    event="Product Added",
                    props={
                        "product_id": sku,
                        "category": category,
                        "price": price,
                        "quantity": 1,
                        "cart_id": cart,
                    },
                )
                click(
                    "track",
                    anon,
                    user,
                    at + timedelta(minutes=3),
                    event="Order Completed",
                    props={
                        "order_id": f"ord-{user}-{k}",
                        "checkout_id": cart,
                        "revenue": value,
                        "products": [{"product_id": sku, "category": category, "price": value, "quantity": 1}],
                    },
                )
            last = AS_OF - timedelta(days=last_days) + timedelta(hours=12)
            other_sku = PRODUCTS[category][1][0]
            click("page", anon, user, last, name="Home")
            click(
                "track",
                anon,
                user,
                last + timedelta(minutes=30),
                event="Product Added",
                props={
                    "product_id": other_sku,
                    "category": category,
                    "price": 1.0,
                    "quantity": 1,
                    "cart_id": f"cart-{user}-open",
                },
            )
        click("page", "anon-0", "u001", AS_OF + timedelta(days=1, hours=3), name="After as_of")
        clicks += [(*row[:14], "raw/clickstream/replayed.jsonl", *row[15:]) for row in clicks[:4]]
        con.executemany(f"insert into raw.clickstream_events values ({','.join(['?'] * 17)})", clicks)

        endpoints: list[tuple] = []
        events: list[tuple] = []
        loyalty: list[tuple] = []
        for index, (user, *_rest) in enumerate(USERS):
            email = f"{user}@example.com"
            created = AS_OF - timedelta(days=USERS[index][1])
            for export_day in (date(2026, 11, 20), date(2026, 11, 21)):
                endpoints.append(
                    (
                        f"ep-email-{user}",
                        "app-1",
                        email,
                        "EMAIL",
                        "ACTIVE",
                        "NONE",
                        datetime(2026, 1, 1),
                        created,
                        "7",
                        user,
                        json.dumps({"Tier": ["x"]}),
                        "{}",
                        "{}",
                        json.dumps({"Platform": "ios"}),
                        json.dumps({"Country": "US"}),
                        export_day,
                        f"raw/pinpoint_endpoints/{export_day:%Y/%m/%d}/e.jsonl",
                        index + 1,
                        datetime.combine(export_day, datetime.min.time()),
                    )
                )
            endpoints.append(
                (
                    f"ep-sms-{user}",
                    "app-1",
                    f"+1206555{index:04d}",
                    "SMS",
                    "ACTIVE",
                    "ALL" if index == 0 else "NONE",
                    None,
                    created,
                    "7",
                    user,
                    "{}",
                    "{}",
                    "{}",
                    "{}",
                    "{}",
                    date(2026, 11, 21),
                    "raw/pinpoint_endpoints/2026/11/21/e.jsonl",
                    50 + index,
                    datetime(2026, 11, 21),
                )
            )
            # one email a month; u002 and u005 never open or click
            for month in range(4):
                sent = AS_OF - timedelta(days=3 + 30 * month, hours=5)
                message = f"mail-{user}-{month}"
                kinds = ["_campaign.send", "_email.send", "_email.delivered"]
                if user not in ("u002", "u005"):
                    kinds += ["_email.open", "_email.click"]
                for lag, kind in enumerate(kinds):
                    arrival = sent + timedelta(hours=lag * 20)  # opens may arrive days after the send
                    attributes = {"campaign_id": f"camp-{month % 2}", "treatment_id": "0"}
                    if kind == "_campaign.send":
                        attributes["delivery_type"] = "EMAIL"
                    facets = {"email_channel": {"mail_event": {"mail": {"message_id": message}}}}
                    event_id = hashlib.sha256(f"{kind}{message}".encode()).hexdigest()
                    events.append(
                        (
                            event_id,
                            kind,
                            sent,
                            arrival,
                            "3.1",
                            "app-1",
                            f"ep-email-{user}",
                            None,
                            None,
                            None,
                            None,
                            "000000000000",
                            json.dumps(attributes),
                            "{}",
                            json.dumps(facets),
                            "{}",
                            None,
                            None,
                            f"raw/pinpoint/{arrival:%Y/%m/%d/%H}/f.json",
                            len(events) + 1,
                            _hour(arrival),
                        )
                    )
            digest = hashlib.sha256(email.encode()).hexdigest()
            for file_day, tier in ((date(2026, 11, 20), "silver"), (date(2026, 11, 21), "gold")):
                loyalty.append(
                    (
                        digest,
                        tier,
                        100 + index,
                        date(2024, 1, 1),
                        file_day,
                        f"raw/partner/acme_loyalty/{file_day:%Y/%m/%d}/f.csv",
                        index + 1,
                        datetime.combine(file_day, datetime.min.time()),
                    )
                )
        events += events[:2]
        con.executemany(f"insert into raw.pinpoint_endpoints values ({','.join(['?'] * 19)})", endpoints)
        con.executemany(f"insert into raw.pinpoint_events values ({','.join(['?'] * 21)})", events)
        con.executemany("insert into raw.partner_acme_loyalty values (?, ?, ?, ?, ?, ?, ?, ?)", loyalty)
    finally:
        con.close()


if __name__ == "__main__":
    import sys

    build_raw_warehouse(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/dbt-dev/warehouse.duckdb"))
