"""UpdateEndpointsBatch, GetEndpoint, GetUserEndpoints and DeleteEndpoint through the real boto3 client."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from ._helpers import APP, email_item, put, raw


def _code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_batch_update_then_get_endpoint_round_trip(client):
    item = email_item(
        "ep-1",
        Attributes={"Plan": ["gold"], "Interests": ["bus", "rail"]},
        Metrics={"visits": 3},
        User={"UserId": "user-1", "UserAttributes": {"Tier": ["vip"]}},
        Demographic={"Timezone": "Europe/Paris"},
        Location={"Country": "FR", "Latitude": 48.85},
        OptOut="NONE",
    )
    answer = put(client, [item])
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert answer["MessageBody"]["Message"]

    endpoint = client.get_endpoint(ApplicationId=APP, EndpointId="ep-1")["EndpointResponse"]
    assert endpoint["Id"] == "ep-1"
    assert endpoint["ApplicationId"] == APP
    assert endpoint["Address"] == "ep-1@example.com"
    assert endpoint["ChannelType"] == "EMAIL"
    assert endpoint["Attributes"] == {"Plan": ["gold"], "Interests": ["bus", "rail"]}
    assert endpoint["Metrics"] == {"visits": 3.0}
    assert endpoint["User"] == {"UserId": "user-1", "UserAttributes": {"Tier": ["vip"]}}
    assert endpoint["Location"] == {"Country": "FR", "Latitude": 48.85}
    assert endpoint["EndpointStatus"] == "ACTIVE"


def test_new_attribute_values_overwrite_and_other_attributes_stay(client):
    put(client, [email_item("ep-1", Attributes={"Plan": ["gold"], "City": ["Paris"]})])
    put(client, [{"Id": "ep-1", "Attributes": {"Plan": ["silver", "trial"]}}])
    endpoint = client.get_endpoint(ApplicationId=APP, EndpointId="ep-1")["EndpointResponse"]
    assert endpoint["Attributes"] == {"Plan": ["silver", "trial"], "City": ["Paris"]}
    assert endpoint["Address"] == "ep-1@example.com"


def test_101_items_is_a_bad_request_and_nothing_is_written(client, sandbox):
    items = [email_item(f"ep-{i}") for i in range(101)]
    with pytest.raises(ClientError) as excinfo:
        put(client, items)
    assert _code(excinfo) == "BadRequestException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sandbox.store.endpoints(APP) == []
    [call] = sandbox.store.calls("UpdateEndpointsBatch")
    assert (call["status"], call["item_count"], call["error_code"]) == (400, 101, "BadRequestException")


def test_100_items_are_accepted(client, sandbox):
    put(client, [email_item(f"ep-{i:03d}") for i in range(100)])
    assert len(sandbox.store.endpoints(APP)) == 100


def test_a_101_char_value_rejects_the_whole_batch(client, sandbox):
    good = email_item("good")
    bad = email_item("bad", Attributes={"Note": ["x" * 101]})
    with pytest.raises(ClientError) as excinfo:
        put(client, [good, bad])
    assert _code(excinfo) == "BadRequestException"
    assert "100 characters" in excinfo.value.response["Error"]["Message"]
    assert sandbox.store.endpoints(APP) == []
    put(client, [email_item("ok", Attributes={"Note": ["x" * 100]})])


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"N" * 51: ["v"]}, "50 characters"),
        ({"Many": [str(i) for i in range(51)]}, "50 values"),
    ],
)
def test_attribute_name_and_value_count_limits(client, attributes, expected):
    with pytest.raises(ClientError) as excinfo:
        put(client, [email_item("ep-1", Attributes=attributes)])
    assert _code(excinfo) == "BadRequestException"
    assert expected in excinfo.value.response["Error"]["Message"]


@pytest.mark.parametrize("address", ["2065550100", "+0123", "+1 206 555 0100", "+1206555010012345"])
def test_non_e164_sms_address_is_a_bad_request(client, address):
    with pytest.raises(ClientError) as excinfo:
        put(client, [{"Id": "sms-1", "Address": address, "ChannelType": "SMS"}])
    assert _code(excinfo) == "BadRequestException"
    assert "E.164" in excinfo.value.response["Error"]["Message"]


def test_e164_sms_and_voice_addresses_are_accepted(client, sandbox):
    put(
        client,
        [
            {"Id": "sms-1", "Address": "+12065550100", "ChannelType": "SMS"},
            {"Id": "voice-1", "Address": "+33612345678", "ChannelType": "VOICE"},
        ],
    )
    assert [e["Id"] for e in sandbox.store.endpoints(APP)] == ["sms-1", "voice-1"]


def test_a_new_endpoint_needs_address_and_channel_type(client):
    with pytest.raises(ClientError) as excinfo:
        put(client, [{"Id": "ep-1", "Attributes": {"Plan": ["gold"]}}])
    assert "Address and ChannelType" in excinfo.value.response["Error"]["Message"]


def test_enum_values_are_enforced(client):
    with pytest.raises(ClientError) as excinfo:
        put(client, [email_item("ep-1", OptOut="MAYBE")])
    assert _code(excinfo) == "BadRequestException"
    assert "OptOut" in excinfo.value.response["Error"]["Message"]


def test_raw_bodies_are_validated_against_the_model(sandbox):
    url = f"{sandbox.endpoint_url}/v1/apps/{APP}/endpoints"
    cases = {
        "unknown member": {"Item": [{**email_item("ep-1"), "Colour": "red"}]},
        "bad enum": {"Item": [{"Id": "ep-1", "Address": "a@b.c", "ChannelType": "FAX"}]},
        "string metric": {"Item": [email_item("ep-1", Metrics={"visits": "three"})]},
        "attribute not a list": {"Item": [email_item("ep-1", Attributes={"Plan": "gold"})]},
        "missing Item": {},
    }
    for name, body in cases.items():
        status, headers, answer = raw(url, "PUT", body)
        assert status == 400, name
        assert headers["x-amzn-ErrorType"] == "BadRequestException", name
        assert set(answer) == {"Message", "RequestID"}, name
    status, _, _ = raw(url, "PUT", b"{not json")
    assert status == 400
    assert sandbox.store.endpoints(APP) == []


def test_payload_over_7_mb_is_413(sandbox):
    body = b'{"Item": [{"Id": "x", "RequestId": "' + b"a" * (7 * 1024 * 1024) + b'"}]}'
    status, headers, answer = raw(f"{sandbox.endpoint_url}/v1/apps/{APP}/endpoints", "PUT", body)
    assert answer["Message"]
    assert status == 413
    assert headers["x-amzn-ErrorType"] == "PayloadTooLargeException"
    assert sandbox.store.call_count("UpdateEndpointsBatch", status=413) == 1


def test_endpoint_over_15_kb_is_rejected(client):
    attributes = {f"a{i}": ["v" * 100] * 5 for i in range(40)}
    with pytest.raises(ClientError) as excinfo:
        put(client, [email_item("big", Attributes=attributes)])
    assert "bytes" in excinfo.value.response["Error"]["Message"]


def test_250_custom_attribute_names_per_app(client):
    put(client, [email_item("ep-1", Attributes={f"a{i}": ["v"] for i in range(20)})])
    for start in range(20, 240, 20):
        put(client, [{"Id": "ep-1", "Attributes": {f"a{i}": ["v"] for i in range(start, start + 20)}}])
    put(client, [{"Id": "ep-1", "Metrics": {f"m{i}": 1 for i in range(10)}}])  # 250 names now
    with pytest.raises(ClientError) as excinfo:
        put(
            client,
            [
                {
                    "Id": "ep-2",
                    "Address": "b@example.com",
                    "ChannelType": "EMAIL",
                    "User": {"UserAttributes": {"OneMore": ["v"]}},
                }
            ],
        )
    assert "250" in excinfo.value.response["Error"]["Message"]


def test_16th_email_endpoint_of_a_user_is_rejected_16th_push_deactivates_oldest(client, sandbox):
    user = {"UserId": "u1"}
    put(client, [email_item(f"ep-{i:02d}", User=user) for i in range(15)])
    with pytest.raises(ClientError) as excinfo:
        put(client, [email_item("ep-15", User=user)])
    assert "15 endpoints" in excinfo.value.response["Error"]["Message"]

    put(client, [{"Id": "push-1", "Address": "token-1", "ChannelType": "GCM", "User": user}])
    statuses = {e["Id"]: e["EndpointStatus"] for e in sandbox.store.endpoints(APP)}
    assert statuses["push-1"] == "ACTIVE"
    assert statuses["ep-00"] == "INACTIVE"
    assert sum(s == "ACTIVE" for s in statuses.values()) == 15


def test_an_address_taken_by_another_endpoint_makes_that_one_inactive(client):
    put(client, [email_item("old", "shared@example.com"), email_item("other")])
    put(client, [email_item("new", "shared@example.com")])
    old = client.get_endpoint(ApplicationId=APP, EndpointId="old")["EndpointResponse"]
    new = client.get_endpoint(ApplicationId=APP, EndpointId="new")["EndpointResponse"]
    other = client.get_endpoint(ApplicationId=APP, EndpointId="other")["EndpointResponse"]
    assert (old["EndpointStatus"], new["EndpointStatus"], other["EndpointStatus"]) == (
        "INACTIVE",
        "ACTIVE",
        "ACTIVE",
    )


def test_get_user_endpoints_and_delete_endpoint(client):
    put(client, [email_item("a", User={"UserId": "u1"}), email_item("b", User={"UserId": "u1"})])
    items = client.get_user_endpoints(ApplicationId=APP, UserId="u1")["EndpointsResponse"]["Item"]
    assert sorted(e["Id"] for e in items) == ["a", "b"]

    deleted = client.delete_endpoint(ApplicationId=APP, EndpointId="a")
    assert deleted["EndpointResponse"]["Id"] == "a"
    with pytest.raises(ClientError) as excinfo:
        client.get_endpoint(ApplicationId=APP, EndpointId="a")
    assert _code(excinfo) == "NotFoundException"
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_user_endpoints(ApplicationId=APP, UserId="nobody")


def test_any_application_id_is_accepted(client):
    app = client.get_app(ApplicationId="brand-new-app")["ApplicationResponse"]
    assert app["Id"] == "brand-new-app"
    assert app["Arn"].endswith(":apps/brand-new-app")


def test_within_one_batch_the_later_item_wins_a_shared_address(client, sandbox):
    put(client, [email_item("first", "same@example.com"), email_item("second", "same@example.com")])
    statuses = {e["Id"]: e["EndpointStatus"] for e in sandbox.store.endpoints(APP)}
    assert statuses == {"first": "INACTIVE", "second": "ACTIVE"}
