import json
import re
from collections import Counter, defaultdict
from datetime import datetime

from engagement_warehouse.pii import normalize_email

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
FIREHOSE_NAME = re.compile(
    r"ewh-clickstream-1-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\.gz"
)
TRACK_EVENTS = {"Product Viewed", "Product Added", "Checkout Started", "Order Completed", "Signed In"}


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _parsed(run):
    good, bad = [], []
    for path, line in run.lines("clickstream"):
        try:
            good.append((path, json.loads(line)))
        except json.JSONDecodeError:
            bad.append((path, line))
    return good, bad


def test_every_line_but_the_torn_one_is_a_segment_event(tiny):
    good, bad = _parsed(tiny)
    assert len(bad) == tiny.summary.dirt["clickstream_malformed_lines"] == 1
    assert str(bad[0][0].relative_to(tiny.root)) == tiny.summary.malformed_key
    assert len(good) + len(bad) == tiny.summary.rows["clickstream"]
    for _, event in good:
        assert event["type"] in {"track", "page", "identify"}
        assert event["messageId"]
        assert event["anonymousId"] or event["userId"]
        for field in ("timestamp", "originalTimestamp", "sentAt", "receivedAt"):
            assert ISO_Z.fullmatch(event[field]), (field, event[field])
        if event["type"] == "track":
            assert event["event"] in TRACK_EVENTS
            assert isinstance(event["properties"], dict)
        if event["type"] == "page":
            assert event["name"] and event["properties"]["url"].startswith("https://")
            assert event["properties"]["path"].startswith("/")
        if event["type"] == "identify":
            assert {"email", "phone", "first_name"} <= event["traits"].keys()
            assert re.fullmatch(r"\+[1-9]\d{7,14}", event["traits"]["phone"])
        if event["anonymousId"]:  # browser events carry the full web context
            ctx = event["context"]
            assert {"ip", "userAgent", "locale", "page", "device", "location"} <= ctx.keys()
            assert ctx["device"]["type"] in {"mobile", "desktop", "tablet"}
            assert {"url", "path", "title", "referrer"} <= ctx["page"].keys()


def test_objects_are_named_and_placed_like_firehose_by_arrival_hour(tiny):
    good, _ = _parsed(tiny)
    late = set(tiny.summary.late_keys)
    for path in tiny.files("clickstream"):
        assert FIREHOSE_NAME.fullmatch(path.name), path.name
    redelivered = 0
    for path, event in good:
        y, m, d, h = path.relative_to(tiny.root / "raw" / "clickstream").parts[:4]
        received = _ts(event["receivedAt"])
        prefix_hour = datetime.fromisoformat(f"{y}-{m}-{d}T{h}:00:00+00:00")
        key = str(path.relative_to(tiny.root))
        if key in late:
            assert (prefix_hour - received).total_seconds() > 3 * 3600
        elif (received - prefix_hour).total_seconds() < 0:
            redelivered += 1  # the duplicate Firehose delivered again in a later hour
        else:
            assert (received - prefix_hour).total_seconds() < 3600, key
    assert redelivered == tiny.summary.dirt["clickstream_duplicates_later_hour"]


def test_late_hour_is_counted_and_written_hours_later(tiny):
    assert tiny.summary.late_hour is not None
    late_rows = sum(
        1 for path, _ in tiny.lines("clickstream") if str(path.relative_to(tiny.root)) in tiny.summary.late_keys
    )
    assert late_rows == tiny.summary.dirt["clickstream_late_rows"] > 0
    assert late_rows < 0.2 * tiny.summary.rows["clickstream"]


def test_duplicates_are_exactly_the_counted_ones(week):
    good, _ = _parsed(week)
    where = defaultdict(list)
    for path, event in good:
        where[event["messageId"]].append(path)
    repeated = {m: paths for m, paths in where.items() if len(paths) > 1}
    same_file = sum(len(p) - len(set(p)) for p in repeated.values())
    later = sum(len(set(p)) - 1 for p in repeated.values())
    assert same_file == week.summary.dirt["clickstream_duplicates_same_file"] >= 1
    assert later == week.summary.dirt["clickstream_duplicates_later_hour"] >= 1
    assert same_file + later < 0.01 * week.summary.rows["clickstream"]


def test_identity_stitching_and_clock_skew_are_present(week):
    good, _ = _parsed(week)
    seen = defaultdict(set)
    skewed = 0
    for _, event in good:
        if event["anonymousId"]:
            seen[event["anonymousId"]].add(event["userId"] is not None)
        received, sent = _ts(event["receivedAt"]), _ts(event["sentAt"])
        if abs((received - sent).total_seconds()) > 60:
            skewed += 1
    assert any(flags == {True, False} for flags in seen.values()), "no device browses anonymously then identifies"
    assert skewed > 0
    # the Segment correction lands within the client's send delay (< 21 s) of receivedAt, skew or not
    for _, event in good:
        if event["anonymousId"] is None:
            continue  # server-side backfills of historical orders keep their historical timestamp
        corrected = _ts(event["receivedAt"]) - (_ts(event["sentAt"]) - _ts(event["timestamp"]))
        assert 0 <= (_ts(event["receivedAt"]) - corrected).total_seconds() < 21


def test_orders_and_history(week):
    good, _ = _parsed(week)
    orders = [e for _, e in good if e.get("event") == "Order Completed"]
    assert orders
    for order in orders:
        props = order["properties"]
        assert props["currency"] == "USD" and props["order_id"].startswith("ord_")
        assert abs(props["revenue"] - sum(p["price"] * p["quantity"] for p in props["products"])) < 0.01
    historical = [o for o in orders if _ts(o["timestamp"]).date() < week.summary.start_date]
    assert len(historical) == week.summary.historical_orders > 0
    assert Counter(e["type"] for _, e in good)["identify"] == week.summary.clickstream_types["identify"]
    emails = {normalize_email(e["traits"]["email"]) for _, e in good if e["type"] == "identify"}
    assert all("@" in e for e in emails)
