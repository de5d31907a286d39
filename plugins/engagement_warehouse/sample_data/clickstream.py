"""Segment tracking-spec clickstream, delivered by Firehose as gzip JSON lines per arrival hour.

Objects go to `raw/clickstream/YYYY/MM/DD/HH/ewh-clickstream-1-YYYY-MM-DD-HH-MM-SS-<uuid>.gz`, where the
hour is the one the event was received by the server (`receivedAt`). Sessions are generated hour by hour:
each hour draws its visitors, plays their sessions (anonymous browsing, sign-in with an identify call,
product views, cart, checkout, order) and writes what arrived in that hour. Events received in a later hour
(a session crossing the hour) wait in a queue of at most about one hour of traffic, and an hour holding more
than `max_lines_per_object` events is split into several objects, so memory does not grow with the window.

Timestamps follow Segment: `originalTimestamp` and `timestamp` are the client's clock, `sentAt` is the
client's clock when the batch left, `receivedAt` is the server's clock. Clients with a skewed clock are off
by minutes; `receivedAt - (sentAt - timestamp)` recovers the true time.
"""

from __future__ import annotations

import json
import random
import uuid

import numpy as np

from engagement_warehouse.sample_data.catalog import (
    CART_PAGE,
    CATEGORY_PAGES,
    CHECKOUT_PAGE,
    CONFIRMATION_PAGE,
    EXTERNAL_REFERRERS,
    HOME_PAGE,
    PRODUCT_PAGES,
    PRODUCTS,
    PRODUCTS_BY_CATEGORY,
    SIGN_IN_PAGE,
    UTM_FRAGMENTS,
    Page,
    Product,
)
from engagement_warehouse.sample_data.clock import DAY_MS, HOUR_MS, firehose_stamp, hour_parts, iso_ms
from engagement_warehouse.sample_data.people import (
    BUY_RATE,
    MAX_SESSION_RATE,
    SESSION_RATE,
    Persona,
    User,
    UserFactory,
)
from engagement_warehouse.sample_data.pinpoint import PinpointEventStream
from engagement_warehouse.sample_data.sink import LakeSink
from engagement_warehouse.sample_data.state import UserState

# share of a day's sessions starting in each UTC hour (Europe mornings, Americas afternoons and evenings)
_RAW_HOUR_WEIGHTS = (
    3.0, 2.4, 1.8, 1.2, 0.8, 0.6, 0.8, 1.4, 2.2, 2.8, 3.2, 3.4,
    3.6, 4.0, 4.6, 5.0, 5.4, 5.6, 5.8, 6.0, 6.0, 5.6, 4.8, 3.8,
)  # fmt: skip
HOUR_WEIGHTS = tuple(w / sum(_RAW_HOUR_WEIGHTS) for w in _RAW_HOUR_WEIGHTS)
RATE_BY_PERSONA = tuple(SESSION_RATE[p] for p in Persona)
BUY_BY_PERSONA = tuple(BUY_RATE[p] for p in Persona)
LATE_SHIFT_HOURS = 4
DUPLICATE_EVERY_SESSIONS = 1_500
_NEW, _ANONYMOUS = Persona.NEW, Persona.ANONYMOUS
_NO_HISTORY = (int(Persona.NEW), int(Persona.ANONYMOUS))
SERVER_CONTEXT = '"library":{"name":"analytics-python","version":"2.3.2"}'


class ClickstreamStream:
    """Generates and writes the clickstream, one window hour at a time (call `run_hour` in order)."""

    def __init__(
        self,
        sink: LakeSink,
        factory: UserFactory,
        state: UserState,
        pinpoint: PinpointEventStream,
        seed: int,
        window_start_ms: int,
        n_hours: int,
        max_lines_per_object: int,
    ) -> None:
        self.sink = sink
        self.factory = factory
        self.state = state
        self.pinpoint = pinpoint
        self.seed = seed
        self.start = window_start_ms
        self.n_hours = n_hours
        self.max_lines = max_lines_per_object
        self.names = random.Random(f"{seed}:clickstream-names")
        self.pending: dict[int, list[str]] = {}
        self.cur: list[str] = []
        self.hour = -1
        self.hour_objects = 0
        # counters reported in the summary
        self.rows = 0
        self.files = 0
        self.events = 0  # distinct events generated and written (no dirt)
        self.by_type: dict[str, int] = {}
        self.sessions = 0
        self.historical_orders = 0
        self.dup_same_file = 0
        self.dup_later_hour = 0
        self.malformed = 0
        self.late_rows = 0
        self.late_hour: int | None = None
        self.late_keys: list[str] = []
        self.malformed_key: str | None = None
        self.malformed_hour: int | None = None
        self._dup_from_hour = max(0, n_hours // 4)
        self._malformed_from_hour = n_hours // 3
        self._late_from_hour = n_hours // 2

    # -------------------------------------------------------------------------------------------- hours
    def run_hour(self, hour: int) -> None:
        """Generate the sessions starting in window hour `hour` and write what arrived in it."""
        self.hour = hour
        self.hour_objects = 0
        self.cur = self.pending.pop(hour, [])
        hour_ms = self.start + hour * HOUR_MS
        day = hour // 24
        rng = random.Random(f"{self.seed}:click:{hour}")
        draws = np.random.default_rng([self.seed, 0xC11C, hour])
        factory = self.factory
        lam = factory.users * MAX_SESSION_RATE * HOUR_WEIGHTS[(hour_ms % DAY_MS) // HOUR_MS]
        n = int(draws.poisson(lam))
        candidates = draws.integers(0, factory.users, n).tolist()
        accepts = (draws.random(n) * MAX_SESSION_RATE).tolist()
        personas = factory.personas
        starts: list[tuple[int, int]] = []
        for index, accept in zip(candidates, accepts, strict=True):
            if accept >= RATE_BY_PERSONA[personas[index]]:
                continue
            user = factory.get(index)
            if user.active_from_day <= day <= user.active_until_day:
                starts.append((hour_ms + int(rng.random() * HOUR_MS), index))
        starts.sort()
        for start_ms, index in starts:
            self._session(rng, factory.get(index), start_ms)
        if day == 0:
            self._backfill(rng, hour)
        self._flush(final=True)

    def finish(self) -> None:
        """Forget events received after the window (they have not arrived yet)."""
        self.pending.clear()

    def _route(self, recv_ms: int, line: str) -> int:
        hour = (recv_ms - self.start) // HOUR_MS
        if hour == self.hour:
            self.cur.append(line)
            if len(self.cur) >= self.max_lines:
                self._flush(final=False)
        elif hour < self.n_hours:
            self.pending.setdefault(hour, []).append(line)
        else:
            return -1
        return hour

    def _flush(self, final: bool) -> None:
        lines, self.cur = self.cur, []
        if not lines:
            return
        hour = self.hour
        if self.malformed_hour is None and hour >= self._malformed_from_hour:
            self.malformed_hour = hour
            victim = lines[len(lines) // 2]
            lines.insert(len(lines) // 2 + 1, victim[: max(1, len(victim) // 2)])  # a torn write
            self.malformed += 1
        prefix_hour = hour
        if (
            self.late_hour is None
            and self._late_from_hour <= hour < self.n_hours - LATE_SHIFT_HOURS
            and hour != self.malformed_hour
        ):
            self.late_hour = hour
        if self.late_hour == hour:
            prefix_hour = hour + LATE_SHIFT_HOURS
            self.late_rows += len(lines)
        prefix_ms = self.start + prefix_hour * HOUR_MS
        yyyy, mm, dd, hh = hour_parts(prefix_ms)
        stamp = firehose_stamp(prefix_ms + (self.hour_objects * 300_000 + 299_000) % HOUR_MS)
        name_uuid = uuid.UUID(int=self.names.getrandbits(128), version=4)
        key = f"raw/clickstream/{yyyy}/{mm}/{dd}/{hh}/ewh-clickstream-1-{stamp}-{name_uuid}.gz"
        self.sink.put_lines(key, lines, compress=True)
        if self.late_hour == hour:
            self.late_keys.append(key)
        if self.malformed_hour == hour and self.malformed_key is None:
            self.malformed_key = key
        self.rows += len(lines)
        self.files += 1
        self.hour_objects += 1
        del final

    # ----------------------------------------------------------------------------------------- sessions
    def _session(self, rng: random.Random, user: User, start_ms: int) -> None:
        rnd = rng.random
        bits = rng.getrandbits
        iso = iso_ms
        state = self.state
        device_no = int(rng.random() * len(user.devices))
        device = user.devices[device_no]
        bit = 1 << device_no
        anonymous = user.persona is _ANONYMOUS
        identified = device.pre_identified or bool(state.identified[user.index] & bit)
        user_id_json = json.dumps(user.user_id)
        uid = user_id_json if identified else "null"
        anon = '"' + device.anonymous_id + '"'
        ctx = device.context_head
        skew = device.skew_ms
        max_delay = 20_000 if device.device_type == "mobile" else 900
        utm = UTM_FRAGMENTS[int(rnd() * len(UTM_FRAGMENTS))] if rnd() < 0.2 else ""
        page: Page = HOME_PAGE
        ref = EXTERNAL_REFERRERS[int(rnd() * len(EXTERNAL_REFERRERS))]
        t = start_ms
        out: list[tuple[int, str, str]] = []

        def emit(kind: str, head: str, tail: str) -> None:
            nonlocal t
            delay = 5 + int(rnd() * max_delay)
            client = t + skew
            stamp = iso(client)
            recv = t + delay + 20 + int(rnd() * 300)
            out.append(
                (
                    recv,
                    kind,
                    f'{head}"messageId":"ajs-next-{bits(128):032x}","anonymousId":{anon},"userId":{uid},'
                    f'"timestamp":"{stamp}","originalTimestamp":"{stamp}","sentAt":"{iso(client + delay)}",'
                    f'"receivedAt":"{iso(recv)}","context":{{{ctx},"page":{{{page.context_head},'
                    f'"referrer":{ref}}}{utm}}}{tail}',
                )
            )
            t += 2_000 + int(rnd() * 40_000)

        def visit(new_page: Page) -> None:
            nonlocal page, ref
            if out:
                ref = page.url_json
            page = new_page
            emit(
                "page",
                '{"type":"page","name":"' + new_page.name + '",',
                ',"properties":{' + new_page.properties_head + ',"referrer":' + ref + "}}",
            )

        def track(event: str, properties: str) -> None:
            emit("track", '{"type":"track","event":"' + event + '",', ',"properties":' + properties + "}")

        def identify(sign_in: bool) -> None:
            nonlocal uid, identified
            if sign_in:
                visit(SIGN_IN_PAGE)
            traits = json.dumps(
                {
                    "email": user.email,
                    "phone": user.phone,
                    "first_name": user.first_name,
                    "last_name": user.last_name,
                },
                separators=(",", ":"),
                ensure_ascii=False,
            )
            uid = user_id_json
            identified = True
            emit("identify", '{"type":"identify",', ',"traits":' + traits + "}")
            if sign_in:
                track("Signed In", '{"method":"email"}')
                state.identified[user.index] |= bit
                if not user.created_before_ms and not state.created_ms[user.index]:
                    state.created_ms[user.index] = t  # the sign-up: endpoints exist from now on
                    self.pinpoint.welcome(user, t)

        # landing
        landing = rnd()
        product: Product = PRODUCTS[int(rnd() * len(PRODUCTS))]
        if landing < 0.35:
            visit(HOME_PAGE)
        elif landing < 0.6:
            visit(CATEGORY_PAGES[product.category])
        if identified and rnd() < 0.08:
            identify(sign_in=False)  # the app refreshes traits on load
        wants_identity = not identified and not anonymous
        identify_at = -1
        if wants_identity and rnd() < (0.7 if user.persona is _NEW else 0.35):
            identify_at = rng.randint(1, 3)
        views = 1 + min(7, int(rng.expovariate(0.4)))
        cart: list[tuple[Product, int]] = []
        cart_id = ""
        for v in range(views):
            if v == identify_at:
                identify(sign_in=True)
            if v > 0:
                family = PRODUCTS_BY_CATEGORY[product.category]
                product = family[int(rnd() * len(family))] if rnd() < 0.6 else PRODUCTS[int(rnd() * len(PRODUCTS))]
            visit(PRODUCT_PAGES[product.product_id])
            track("Product Viewed", product.viewed_properties)
            if rnd() < 0.22:
                if not cart_id:
                    cart_id = f"cart_{bits(48):012x}"
                quantity = 1 + (rnd() < 0.2)
                cart.append((product, quantity))
                track(
                    "Product Added",
                    "{" + product.line_fields + f',"quantity":{quantity},"cart_id":"{cart_id}"' + "}",
                )
        buys = rnd() < BUY_BY_PERSONA[user.persona] or (cart and rnd() < 0.3)
        if buys:
            if not cart:
                cart_id = cart_id or f"cart_{bits(48):012x}"
                cart.append((product, 1))
                track(
                    "Product Added",
                    "{" + product.line_fields + f',"quantity":1,"cart_id":"{cart_id}"' + "}",
                )
            if not identified and not anonymous:
                identify(sign_in=True)
            lines_json = ",".join("{" + p.line_fields + f',"quantity":{q}' + "}" for p, q in cart)
            total = round(sum(p.price * q for p, q in cart), 2)
            visit(CART_PAGE)
            track(
                "Checkout Started",
                f'{{"cart_id":"{cart_id}","value":{total},"currency":"USD","products":[{lines_json}]}}',
            )
            visit(CHECKOUT_PAGE)
            track(
                "Order Completed",
                f'{{"order_id":"ord_{bits(64):016x}","checkout_id":"{cart_id}","revenue":{total},'
                f'"currency":"USD","products":[{lines_json}]}}',
            )
            visit(CONFIRMATION_PAGE)
        elif cart and rnd() < 0.5:
            visit(CART_PAGE)

        if device.device_type == "mobile":
            self.pinpoint.app_session(user, device, start_ms, t, user.user_id if identified else None)
        self._deliver(rng, out)

    def _deliver(self, rng: random.Random, out: list[tuple[int, str, str]]) -> None:
        self.sessions += 1
        dirty = self.sessions % DUPLICATE_EVERY_SESSIONS == 0
        first_dirt = self.hour >= self._dup_from_hour and self.dup_same_file == 0
        counts = self.by_type
        for recv, kind, line in out:
            if self._route(recv, line) >= 0:
                self.events += 1
                counts[kind] = counts.get(kind, 0) + 1
        if not (dirty or first_dirt) or not out:
            return
        recv, _, line = out[int(rng.random() * len(out))]
        if self._route(recv, line) >= 0:  # the SDK retried: same messageId, same object
            self.dup_same_file += 1
        later = (recv - self.start) // HOUR_MS + 2
        if later < self.n_hours:  # and Firehose redelivered it two hours later
            self.pending.setdefault(later, []).append(line)
            self.dup_later_hour += 1

    def _backfill(self, rng: random.Random, hour: int) -> None:
        """Historical orders, replayed server-side on the first day: their timestamps precede the window."""
        hour_ms = self.start + hour * HOUR_MS
        factory = self.factory
        iso = iso_ms
        for index in range(hour, factory.users, 24):
            if factory.personas[index] in _NO_HISTORY:
                continue
            user = factory.get(index)
            sent = hour_ms + (index // 24) % 3_000 * 1_000
            for order_ms in user.historical_orders_ms:
                product = PRODUCTS[int(rng.random() * len(PRODUCTS))]
                quantity = 1 + (rng.random() < 0.25)
                revenue = round(product.price * quantity, 2)
                recv = sent + 40 + rng.randrange(200)
                line = (
                    '{"type":"track","event":"Order Completed",'
                    f'"messageId":"bf-{rng.getrandbits(128):032x}",'
                    f'"anonymousId":null,"userId":"{user.user_id}","timestamp":"{iso(order_ms)}",'
                    f'"originalTimestamp":"{iso(order_ms)}","sentAt":"{iso(sent)}","receivedAt":"{iso(recv)}",'
                    f'"context":{{{SERVER_CONTEXT}}},"properties":{{"order_id":"ord_{rng.getrandbits(64):016x}",'
                    f'"revenue":{revenue},"currency":"USD","products":[{{{product.line_fields},'
                    f'"quantity":{quantity}}}]}}}}'
                )
                if self._route(recv, line) >= 0:
                    self.events += 1
                    self.historical_orders += 1
                    self.by_type["track"] = self.by_type.get("track", 0) + 1
