"""Helpers shared by the sandbox tests."""

from __future__ import annotations

import boto3
from botocore.config import Config

APP = "test-app"
ROLE = "arn:aws:iam::000000000000:role/pinpoint-import"


def make_client(endpoint_url: str):
    """The real boto3 client, with botocore's own retries off so every answer is visible."""
    return boto3.client(
        "pinpoint",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


def email_item(endpoint_id: str, address: str | None = None, **extra) -> dict:
    return {
        "Id": endpoint_id,
        "Address": address or f"{endpoint_id}@example.com",
        "ChannelType": "EMAIL",
        **extra,
    }


def put(client, items: list[dict], app: str = APP) -> dict:
    return client.update_endpoints_batch(ApplicationId=app, EndpointBatchRequest={"Item": items})


def poll(get, limit: int = 20) -> tuple[dict, list[str]]:
    """Call `get()` until the job is terminal; returns the final job and every status seen."""
    seen = []
    for _ in range(limit):
        job = get()
        seen.append(job["JobStatus"])
        if job["JobStatus"] in ("COMPLETED", "FAILED"):
            return job, seen
    raise AssertionError(f"job never finished: {seen}")


def raw(url: str, method: str, body: bytes | dict | None = None) -> tuple[int, dict[str, str], dict]:
    """A plain HTTP request (for bodies boto3 would refuse to send): (status, headers, JSON body)."""
    import json
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")
