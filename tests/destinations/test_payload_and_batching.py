import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

from engagement_warehouse.destinations.base import EndpointRecord
from engagement_warehouse.destinations.pinpoint.batching import RateLimiter, iter_batches, request_bytes
from engagement_warehouse.destinations.pinpoint.payload import (
    PayloadLimits,
    build_endpoint_item,
    item_size,
    validate_item,
)

from .conftest import accepted_response

RECORD = EndpointRecord(
    "ep-1",
    {
        "Address": "a@example.com",
        "ChannelType": "EMAIL",
        "OptOut": "NONE",
        "User.UserId": "u-1",
        "Attributes.loyalty_tier": ["gold"],
        "Attributes.cleared": None,
        "User.UserAttributes.interests": ["running", "cycling"],
        "Metrics.lifetime_value": 120.5,
        "Metrics.gone": None,
        "Location.Latitude": 47.6,
        "Location.City": "Seattle",
    },
)


def test_payload_shape_accepted_by_botocore_model(pinpoint_client):
    item, notes = build_endpoint_item(RECORD)
    assert item == {
        "Id": "ep-1",
        "Address": "a@example.com",
        "ChannelType": "EMAIL",
        "OptOut": "NONE",
        "Attributes": {"loyalty_tier": ["gold"], "cleared": []},
        "Metrics": {"lifetime_value": 120.5},
        "User": {"UserId": "u-1", "UserAttributes": {"interests": ["running", "cycling"]}},
        "Location": {"Latitude": 47.6, "City": "Seattle"},
    }
    assert notes == ["Metrics.gone is null: not cleared (Pinpoint metrics cannot be emptied)"]
    request = {"ApplicationId": "app", "EndpointBatchRequest": {"Item": [item]}}
    with Stubber(pinpoint_client) as stub:
        stub.add_response("update_endpoints_batch", accepted_response(), request)
        pinpoint_client.update_endpoints_batch(**request)
        stub.assert_no_pending_responses()


def test_stubber_would_catch_a_wrong_shape(pinpoint_client):
    """Guard for the test above: the model check is real (a string where a list is expected fails)."""
    bad = {"Id": "ep-1", "Attributes": {"tier": "gold"}}
    with Stubber(pinpoint_client) as stub, pytest.raises(ParamValidationError):
        stub.add_response("update_endpoints_batch", accepted_response())
        pinpoint_client.update_endpoints_batch(ApplicationId="app", EndpointBatchRequest={"Item": [bad]})


def test_validation_limits():
    ok, _ = build_endpoint_item(RECORD)
    assert validate_item(ok) == []
    long_value = {"Id": "e", "Attributes": {"a": ["x" * 101]}}
    assert "101 characters" in validate_item(long_value)[0]
    long_name = {"Id": "e", "User": {"UserAttributes": {"n" * 51: ["x"]}}}
    assert "longer than 50" in validate_item(long_name)[0]
    many = {"Id": "e", "Attributes": {"a": [str(i) for i in range(51)]}}
    assert "51 values" in validate_item(many)[0]
    assert "ChannelType" in validate_item({"Id": "e", "ChannelType": "FAX"})[0]
    assert validate_item({"Id": "e", "Attributes": {"a": ["x" * 100]}}) == []
    small = PayloadLimits(max_value_chars=3)
    assert validate_item({"Id": "e", "Attributes": {"a": ["abcd"]}}, small)


def test_batches_hold_at_most_100_items():
    batches = list(iter_batches(range(250), lambda _: 10))
    assert [len(b) for b in batches] == [100, 100, 50]
    assert [x for b in batches for x in b] == list(range(250))


def test_batches_stay_under_7_mb():
    big = [{"Id": str(i), "Attributes": {"a": ["x" * 100] * 50}} for i in range(2000)]  # ~5.3 KB each
    sizes = {id(item): item_size(item) for item in big}
    batches = list(iter_batches(big, lambda item: sizes[id(item)], max_items=100, max_bytes=200_000))
    assert all(request_bytes(sizes[id(i)] for i in b) <= 200_000 for b in batches)
    assert all(len(b) < 100 for b in batches)
    assert sum(len(b) for b in batches) == 2000
    # with the default 7 MB limit, the 100-item cap binds first
    assert {len(b) for b in iter_batches(big, lambda item: sizes[id(item)])} == {100}


def test_rate_limiter_spaces_calls():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(2.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert slept == [0.5, 0.5, 0.5, 0.5]
    now[0] += 10  # idle time is not banked beyond one call
    limiter.acquire()
    assert len(slept) == 4


def test_client_factory_configures_botocore_retries():
    from engagement_warehouse.destinations.pinpoint.client import make_pinpoint_client

    client = make_pinpoint_client("http://127.0.0.1:9", "eu-west-1", max_attempts=4)
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 4}
