"""The boto3 Pinpoint client, with botocore doing the retries (no home-made retry loop)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config


def make_pinpoint_client(
    endpoint_url: str | None,
    region: str,
    session: boto3.Session | None = None,
    retry_mode: str = "adaptive",
    max_attempts: int = 10,
) -> Any:
    """Build a `pinpoint` client.

    `endpoint_url` points at the local sandbox (None for AWS). `retry_mode="adaptive"` makes botocore
    retry throttles (429) and 5xx with backoff *and* rate-limit client-side after throttles, which suits
    a 2 requests/s quota without a Retry-After header. `max_attempts` counts the first call (botocore's
    `total_max_attempts`, the same meaning as the `AWS_MAX_ATTEMPTS` variable): 1 means no retry.
    """
    session = session or boto3.Session()
    config = Config(
        region_name=region,
        retries={"mode": retry_mode, "total_max_attempts": max_attempts},
        connect_timeout=10,
        read_timeout=60,
    )
    return session.client("pinpoint", endpoint_url=endpoint_url, region_name=region, config=config)
