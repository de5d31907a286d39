import json
import re
from collections import defaultdict

import botocore.session
import pytest

from engagement_warehouse.sample_data.people import Persona

EPOCH_MS_2026 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
EMAIL_TYPES = {
    "_email.send", "_email.delivered", "_email.open", "_email.click", "_email.hardbounce",
    "_email.softbounce", "_email.complaint", "_email.unsubscribe",
}  # fmt: skip


@pytest.fixture(scope="module")
def pinpoint_model():
    return botocore.session.get_session().get_service_model("pinpoint")


def test_events_have_ms_timestamps_and_a_client_id(week):
    records = week.records("pinpoint_events")
    assert len(records) == week.summary.rows["pinpoint_events"]
    for r in records:
        assert isinstance(r["event_timestamp"], int) and r["event_timestamp"] > EPOCH_MS_2026
        assert isinstance(r["arrival_timestamp"], int) and r["arrival_timestamp"] > EPOCH_MS_2026
        assert r["client"]["client_id"]
        assert r["application"]["app_id"] == "test-app"
        assert r["awsAccountId"] == "123456789012"
    types = {r["event_type"] for r in records}
    assert {"_campaign.send", "_email.send", "_email.delivered", "_email.open", "_session.start"} <= types


def test_events_land_in_their_arrival_hour_and_some_hours_are_gzip(week):
    gz = plain = 0
    for path in week.files("pinpoint_events"):
        y, m, d, h = path.relative_to(week.root / "raw" / "pinpoint_events").parts[:4]
        is_gz = path.read_bytes()[:2] == b"\x1f\x8b"
        assert is_gz == path.name.endswith(".gz")
        gz, plain = gz + is_gz, plain + (not is_gz)
        for line in week.text(path).splitlines():
            arrival = json.loads(line)["arrival_timestamp"]
            from datetime import UTC, datetime

            stamp = datetime.fromtimestamp(arrival / 1000, UTC)
            assert (f"{stamp:%Y}", f"{stamp:%m}", f"{stamp:%d}", f"{stamp:%H}") == (y, m, d, h)
    assert gz and plain


def test_email_events_share_the_send_time_and_clicks_carry_the_link(week):
    by_message = defaultdict(set)
    clicks = 0
    for r in week.records("pinpoint_events"):
        if r["event_type"] in EMAIL_TYPES:
            mail = r["facets"]["email_channel"]["mail_event"]["mail"]
            assert mail["message_send_timestamp"] == r["event_timestamp"]
            assert mail["destination"] and mail["from_address"]
            assert r["client"]["client_id"].endswith("_email")
            by_message[mail["message_id"]].add(r["event_timestamp"])
        if r["event_type"] == "_email.click":
            clicks += 1
            link = r["facets"]["email_channel"]["mail_event"]["click"]["link"]
            assert link == r["attributes"]["feedback"] and link.startswith("https://")
    assert by_message and all(len(stamps) == 1 for stamps in by_message.values())
    assert clicks > 0


def test_one_duplicated_record(week):
    lines = [line for _, line in week.lines("pinpoint_events")]
    assert len(lines) - len(set(lines)) == week.summary.dirt["pinpoint_duplicate_records"] == 1


def test_engaged_users_open_more_than_churned(week):
    from engagement_warehouse.sample_data.people import UserFactory

    factory = UserFactory(7, 60, 10, 0)
    opens = defaultdict(int)
    leaving = set()  # messages opened only to unsubscribe or complain
    churned_opened = set()
    for r in week.records("pinpoint_events"):
        message = r["attributes"].get("message_id")
        if r["event_type"] in ("_email.unsubscribe", "_email.complaint"):
            leaving.add(message)
        if r["event_type"] == "_email.open":
            index = int(r["client"]["client_id"][3:9]) - 1
            persona = Persona(int(factory.personas[index]))
            opens[persona] += 1
            if persona is Persona.CHURNED:
                churned_opened.add(message)
    assert churned_opened <= leaving
    assert opens[Persona.ENGAGED] + opens[Persona.ACTIVE] > len(churned_opened)


def _check_members(value, shape):
    if shape.type_name == "structure":
        assert isinstance(value, dict)
        assert set(value) <= set(shape.members), set(value) - set(shape.members)
        for name, member in value.items():
            _check_members(member, shape.members[name])
    elif shape.type_name == "map":
        for item in value.values():
            _check_members(item, shape.value)
    elif shape.type_name == "list":
        assert isinstance(value, list)
        for item in value:
            _check_members(item, shape.member)
    elif shape.type_name == "string":
        assert isinstance(value, str)
    elif shape.type_name == "double":
        assert isinstance(value, int | float)


def test_endpoint_export_matches_botocore_endpoint_response(week, pinpoint_model):
    shape = pinpoint_model.shape_for("EndpointResponse")
    files = week.files("pinpoint_endpoints")
    dates = {p.relative_to(week.root / "raw" / "pinpoint_endpoints").parts[:3] for p in files}
    assert dates == {("2026", "11", "15"), ("2026", "11", "22")}
    records = week.records("pinpoint_endpoints")
    assert len(records) == week.summary.rows["pinpoint_endpoints"]
    statuses, opt_outs = set(), set()
    for r in records:
        _check_members(r, shape)
        assert re.fullmatch(r"ep_\d{6}_(email|sms)", r["Id"])
        assert r["ChannelType"] == ("EMAIL" if r["Id"].endswith("_email") else "SMS")
        assert r["User"]["UserId"] == "u_" + r["Id"][3:9]
        statuses.add(r["EndpointStatus"])
        opt_outs.add(r["OptOut"])
        if r["ChannelType"] == "SMS":
            assert re.fullmatch(r"\+[1-9]\d{7,14}", r["Address"])
    assert statuses <= {"ACTIVE", "INACTIVE"} and opt_outs == {"NONE", "ALL"}


def test_latest_export_differs_from_the_week_before(week):
    by_date = defaultdict(dict)
    for path in week.files("pinpoint_endpoints"):
        day = path.relative_to(week.root / "raw" / "pinpoint_endpoints").parts[2]
        for line in week.text(path).splitlines():
            record = json.loads(line)
            by_date[day][record["Id"]] = record
    earlier, latest = by_date["15"], by_date["22"]
    assert set(earlier) <= set(latest)
    assert len(latest) > len(earlier)  # sign-ups since
    # addresses are unique per channel within an export (a duplicate would deactivate an endpoint)
    addresses = [r["Address"] for r in latest.values()]
    assert len(addresses) == len(set(addresses))
