"""Amazon Pinpoint's API facts that several parts of the project check (shared/reference/pinpoint.md).

Landing validates endpoint exports with them, the quality gate checks the export model against them, and the
exporter refuses a payload that breaks them before any call. (The local sandbox deliberately does not import this
module: it reads botocore's service model on its own, so the two readings of the contract check each other.)
"""

from __future__ import annotations

import re

CHANNEL_TYPES: frozenset[str] = frozenset(
    {
        "PUSH",
        "GCM",
        "APNS",
        "APNS_SANDBOX",
        "APNS_VOIP",
        "APNS_VOIP_SANDBOX",
        "ADM",
        "SMS",
        "VOICE",
        "EMAIL",
        "BAIDU",
        "CUSTOM",
        "IN_APP",
    }
)
PHONE_CHANNELS: frozenset[str] = frozenset({"SMS", "VOICE"})
OPT_OUT_VALUES: frozenset[str] = frozenset({"ALL", "NONE"})
E164_PATTERN = r"^\+[1-9]\d{1,14}$"
E164 = re.compile(E164_PATTERN)
MAX_ATTRIBUTE_NAME_LENGTH = 50
MAX_ATTRIBUTE_VALUE_LENGTH = 100
MAX_VALUES_PER_ATTRIBUTE = 50
MAX_CUSTOM_ATTRIBUTES = 250
