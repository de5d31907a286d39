"""The `acme_loyalty` partner feed: one CSV per file date, keyed by the SHA-256 of the member's email.

Matches `sources/contracts/acme_loyalty.yml`: header `email_sha256,loyalty_tier,points_balance,member_since`,
UTF-8, comma-delimited, one row per member, at
`raw/partner/acme_loyalty/YYYY/MM/DD/acme_loyalty_YYYYMMDD.csv`.
The key is `pii.email_sha256` of the email as the user typed it (the hash normalises it).
"""

from __future__ import annotations

import csv
import io
import random
from typing import IO, Any

import numpy as np

from engagement_warehouse.pii import email_sha256
from engagement_warehouse.sample_data.clock import DAY_MS, iso_ms
from engagement_warehouse.sample_data.people import Persona, UserFactory
from engagement_warehouse.sample_data.sink import LakeSink

PARTNER = "acme_loyalty"
COLUMNS = ("email_sha256", "loyalty_tier", "points_balance", "member_since")
MEMBER_PERSONAS = (Persona.ACTIVE, Persona.ENGAGED, Persona.AT_RISK, Persona.LAPSED)


def write_loyalty_file(
    sink: LakeSink,
    factory: UserFactory,
    seed: int,
    file_ms: int,
    missing_required_rows: int,
) -> tuple[int, int, str]:
    """Write the feed for the day starting at `file_ms`; blank `points_balance` on the first
    `missing_required_rows` members (deliberate dirt). Returns (data rows, rows left blank, key).

    Points grow with the file date, so two files a week apart differ for the same member; members who
    joined after `file_ms` are absent from the earlier file.
    """
    stamp = iso_ms(file_ms)
    yyyy, mm, dd = stamp[0:4], stamp[5:7], stamp[8:10]
    key = f"raw/partner/{PARTNER}/{yyyy}/{mm}/{dd}/{PARTNER}_{yyyy}{mm}{dd}.csv"
    rng = random.Random(f"{seed}:partner:{file_ms // DAY_MS}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    with sink.open(key) as handle:
        rows, missing = _write_rows(factory, rng, writer, buffer, handle, file_ms, missing_required_rows)
    return rows, missing, key


def _write_rows(
    factory: UserFactory,
    rng: random.Random,
    writer: Any,
    buffer: io.StringIO,
    handle: IO[bytes],
    file_ms: int,
    missing_required_rows: int,
) -> tuple[int, int]:
    file_day = file_ms // DAY_MS
    rows = missing = 0
    candidates = np.flatnonzero(np.isin(factory.personas, [int(p) for p in MEMBER_PERSONAS]))
    for index in candidates.tolist():
        user = factory.get(index)
        if not user.loyalty_member or user.loyalty_since_ms > file_ms:
            continue
        points = user.loyalty_points + (file_day % 97) * 5 + rng.randrange(0, 50) * (user.index % 3)
        points_text = str(points)
        if missing < missing_required_rows:
            points_text = ""  # dirt: a required value is missing
            missing += 1
        writer.writerow((email_sha256(user.email), user.loyalty_tier, points_text, iso_ms(user.loyalty_since_ms)[:10]))
        rows += 1
        if buffer.tell() >= 1 << 20:
            handle.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
    handle.write(buffer.getvalue().encode("utf-8"))
    return rows, missing
