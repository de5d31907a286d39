"""Users, their personas and devices, derived on demand from (seed, user index).

A user is never stored for the whole run: `UserFactory.get(i)` rebuilds user `i` from a RNG seeded with the
run seed and the index, so the generator needs only a few bytes of state per user (see `UserState`) however
many users and days are asked for. Personas are drawn up front as one numpy array (1 byte per user) so that
the hourly session sampler can accept or reject candidates without building them.
"""

from __future__ import annotations

import json
import random
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from itertools import accumulate
from typing import Any

import numpy as np

from engagement_warehouse.sample_data.catalog import (
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    PLACES,
    USER_AGENTS,
)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


class Persona(IntEnum):
    """Lifecycle personas. The marts are expected to rediscover them from behaviour."""

    NEW = 0  # first seen in the last few days of the window
    ACTIVE = 1  # regular visitor and buyer
    ENGAGED = 2  # frequent visitor, opens and clicks emails
    AT_RISK = 3  # active early in the window, silent since
    LAPSED = 4  # bought long ago (historical orders only), still receives win-back emails
    CHURNED = 5  # last purchase a year ago, mostly unsubscribed or bouncing
    ANONYMOUS = 6  # browses without ever identifying: no user id, no endpoint


PERSONA_WEIGHTS = np.array([0.12, 0.20, 0.10, 0.14, 0.14, 0.10, 0.20])
# expected web sessions per day while the persona is active
SESSION_RATE = {
    Persona.NEW: 0.9,
    Persona.ACTIVE: 0.55,
    Persona.ENGAGED: 1.3,
    Persona.AT_RISK: 0.5,
    Persona.LAPSED: 0.0,
    Persona.CHURNED: 0.0,
    Persona.ANONYMOUS: 0.35,
}
MAX_SESSION_RATE = max(SESSION_RATE.values())
# probability that a delivered email is opened, by persona ("engaged users open, unengaged don't")
OPEN_RATE = {
    Persona.NEW: 0.45,
    Persona.ACTIVE: 0.35,
    Persona.ENGAGED: 0.7,
    Persona.AT_RISK: 0.12,
    Persona.LAPSED: 0.05,
    Persona.CHURNED: 0.0,
    Persona.ANONYMOUS: 0.0,
}
# probability that a session reaches each funnel step, by persona
BUY_RATE = {
    Persona.NEW: 0.10,
    Persona.ACTIVE: 0.12,
    Persona.ENGAGED: 0.18,
    Persona.AT_RISK: 0.06,
    Persona.LAPSED: 0.0,
    Persona.CHURNED: 0.0,
    Persona.ANONYMOUS: 0.03,
}


class EmailFate(IntEnum):
    """What happens to the user's email address over the window."""

    OK = 0
    OPTED_OUT = 1  # opted out before the window: never sent to, OptOut ALL in every export
    HARD_BOUNCES = 2  # first send hard-bounces, endpoint becomes INACTIVE
    UNSUBSCRIBES = 3  # unsubscribes from one campaign, OptOut ALL afterwards
    COMPLAINS = 4  # marks one campaign as spam, OptOut ALL afterwards


@dataclass(frozen=True, slots=True)
class Device:
    """One browser or phone of a user: its Segment anonymousId and pre-serialised context."""

    anonymous_id: str
    device_type: str  # mobile | desktop | tablet
    skew_ms: int  # client clock minus server clock
    pre_identified: bool  # already logged in before the window starts
    context_head: str  # `"ip":..,"userAgent":..,...` without braces and without page


@dataclass(frozen=True, slots=True)
class User:
    """A generated person. Anonymous-only visitors have no identity fields that are ever emitted."""

    index: int
    user_id: str
    persona: Persona
    first_name: str
    last_name: str
    email: str  # as the user typed it: some have capitals or stray spaces
    phone: str  # E.164
    country: str
    city: str
    locale: str
    timezone: str
    devices: tuple[Device, ...]
    active_from_day: int  # first window day (0-based) with sessions
    active_until_day: int  # last window day (0-based, inclusive) with sessions
    created_before_ms: int  # account creation for users existing before the window (0 for new users)
    email_fate: EmailFate
    has_sms: bool
    sms_opts_out: bool
    historical_orders_ms: tuple[int, ...]  # orders before the window, backfilled on day 1
    loyalty_member: bool
    loyalty_tier: str
    loyalty_points: int
    loyalty_since_ms: int
    cohort_id: str

    @property
    def open_rate(self) -> float:
        return OPEN_RATE[self.persona]

    @property
    def address(self) -> str:
        """The email address as Pinpoint stores it on the endpoint."""
        return self.email.strip().lower()


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()


class UserFactory:
    """Rebuilds user `i` deterministically; keeps a bounded cache of recently used users."""

    def __init__(self, seed: int, users: int, days: int, start_ms: int, cache_size: int = 32_768) -> None:
        self.seed = seed
        self.users = users
        self.days = days
        self.start_ms = start_ms
        rng = np.random.default_rng([seed, 0x5EED, users])
        self.personas = rng.choice(len(Persona), size=users, p=PERSONA_WEIGHTS).astype(np.uint8)
        self.get = lru_cache(maxsize=cache_size)(self._build)

    def persona_counts(self) -> dict[str, int]:
        counts = np.bincount(self.personas, minlength=len(Persona))
        return {p.name.lower(): int(counts[p]) for p in Persona}

    def _build(self, index: int) -> User:
        # Hot path (rebuilt whenever the bounded cache misses): plain float draws and table lookups
        # instead of randint/choices/json.dumps, which made this several times slower.
        rng = random.Random(f"{self.seed}:user:{index}")
        rnd = rng.random

        def pick(seq: tuple) -> Any:
            return seq[int(rnd() * len(seq))]

        def between(low: int, high: int) -> int:
            return low + int(rnd() * (high - low + 1))

        persona_no = int(self.personas[index])
        persona = _PERSONAS[persona_no]
        first = pick(FIRST_NAMES)
        last = pick(LAST_NAMES)
        country, _, locale, timezone, cities, phone_prefix, phone_digits = PLACES[
            bisect_right(_PLACE_CUM, rnd() * _PLACE_CUM[-1])
        ]
        city = pick(cities)
        email = f"{_ASCII[first]}.{_ASCII[last]}{index + 1}@{pick(EMAIL_DOMAINS)}"
        quirk = rnd()
        if quirk < 0.08:
            email = email.title()  # "Ava.Smith12@Example.Com"
        elif quirk < 0.12:
            email = f" {email} "
        width = phone_digits - 3
        phone = f"{phone_prefix}{between(200, 989)}{str(index + 1).rjust(width, '0')[-width:]}"

        draw = rnd()
        n_devices = 1 if draw < 0.55 else 2 if draw < 0.88 else 3
        existing = persona_no not in (_NEW, _ANONYMOUS)
        devices = []
        for d in range(n_devices):
            draw = rnd()
            device_type = "mobile" if draw < 0.55 else "desktop" if draw < 0.92 else "tablet"
            skew_ms = 0
            if rnd() < 0.07:  # a clock that is minutes off
                skew_ms = (1 if rnd() < 0.5 else -1) * between(90_000, 900_000)
            elif rnd() < 0.5:
                skew_ms = between(-1500, 1500)
            ip = f"{pick(_IP_FIRST_OCTETS)}.{between(0, 255)}.{between(0, 255)}.{between(1, 254)}"
            head = (
                f'"ip":"{ip}","userAgent":{pick(_USER_AGENTS_JSON[device_type])},"locale":"{locale}",'
                f'"library":{{"name":"analytics.js","version":"5.2.1"}},"device":{{"type":"{device_type}"}},'
                f'"location":{{"country":"{country}"}},"timezone":"{timezone}"'
            )
            devices.append(
                Device(
                    anonymous_id=uuid4_from_bits(rng.getrandbits(128)),
                    device_type=device_type,
                    skew_ms=skew_ms,
                    pre_identified=existing and d == 0,
                    context_head=head,
                )
            )

        days = self.days
        active_from, active_until = 0, days - 1
        if persona_no == _NEW:
            active_from = max(0, days - 1 - between(0, min(4, days - 1)))
        elif persona_no == _AT_RISK:
            active_until = max(0, int(days * 0.4) - 1)
        elif persona_no in (_LAPSED, _CHURNED):
            active_from, active_until = days, -1  # no sessions in the window

        start = self.start_ms
        created = 0
        history: list[int] = []
        if existing:
            created = start - between(120, 1500) * DAY_MS - between(0, DAY_MS - 1)
            low, high = _RECENT_ORDER_DAYS[persona_no]
            for k in range(between(1, 4)):
                days_ago = between(low, high) + k * between(15, 60)
                history.append(max(created + HOUR_MS, start - days_ago * DAY_MS - between(0, DAY_MS - 1)))
            history.sort()

        fate = EmailFate.OK
        draw = rnd()
        if persona_no == _CHURNED:
            fate = _CHURNED_FATES[min(3, int(draw * 4))]
        elif draw < 0.03:
            fate = EmailFate.OPTED_OUT
        elif draw < 0.045:
            fate = EmailFate.HARD_BOUNCES
        elif draw < 0.07:
            fate = EmailFate.UNSUBSCRIBES
        elif draw < 0.075:
            fate = EmailFate.COMPLAINS

        loyalty = persona_no in _LOYALTY_PERSONAS and rnd() < 0.55
        draw = rnd()
        tier = "bronze" if draw < 0.5 else "silver" if draw < 0.8 else "gold" if draw < 0.95 else "platinum"
        since = created + between(0, 90) * DAY_MS if created else 0
        return User(
            index=index,
            user_id=f"u_{index + 1:06d}",
            persona=persona,
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            country=country,
            city=city,
            locale=locale,
            timezone=timezone,
            devices=tuple(devices),
            active_from_day=active_from,
            active_until_day=active_until,
            created_before_ms=created,
            email_fate=fate,
            has_sms=rnd() < 0.6,
            sms_opts_out=rnd() < 0.04,
            historical_orders_ms=tuple(history),
            loyalty_member=loyalty,
            loyalty_tier=tier,
            loyalty_points=between(0, 40) * 125,
            loyalty_since_ms=min(since, start - DAY_MS) if since else 0,
            cohort_id=str(between(0, 99)),
        )


def uuid4_from_bits(bits: int) -> str:
    """The string `uuid.UUID(int=bits, version=4)` gives, without building a UUID object."""
    bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_PERSONAS = tuple(Persona)
_NEW, _AT_RISK, _LAPSED, _CHURNED, _ANONYMOUS = (
    int(Persona.NEW),
    int(Persona.AT_RISK),
    int(Persona.LAPSED),
    int(Persona.CHURNED),
    int(Persona.ANONYMOUS),
)
_LOYALTY_PERSONAS = frozenset(int(p) for p in (Persona.ACTIVE, Persona.ENGAGED, Persona.AT_RISK, Persona.LAPSED))
_RECENT_ORDER_DAYS = {
    int(Persona.ACTIVE): (5, 90),
    int(Persona.ENGAGED): (2, 60),
    int(Persona.AT_RISK): (20, 75),
    int(Persona.LAPSED): (60, 150),
    int(Persona.CHURNED): (200, 400),
}
_CHURNED_FATES = (EmailFate.OPTED_OUT, EmailFate.HARD_BOUNCES, EmailFate.UNSUBSCRIBES, EmailFate.OK)
_PLACE_CUM = tuple(accumulate(p[1] for p in PLACES))
_ASCII = {name: _ascii(name).replace(" ", "") for name in (*FIRST_NAMES, *LAST_NAMES)}
_IP_FIRST_OCTETS = (23, 45, 66, 81, 92, 104, 151, 185)
_USER_AGENTS_JSON = {kind: tuple(json.dumps(ua) for ua in agents) for kind, agents in USER_AGENTS.items()}
