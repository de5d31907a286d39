"""Amazon Pinpoint data as AWS writes it: the Firehose event stream and CreateExportJob endpoint exports.

Event stream: JSON lines under `raw/pinpoint_events/YYYY/MM/DD/HH/` keyed by the hour each event *arrived*
(`arrival_timestamp`), plain text, except every sixth hour, which is gzip (a `.gz` object), as when a
delivery stream's compression is switched on. Events whose arrival lies after the window are not written
(they have not arrived yet). Because an email's open or an SMS receipt arrives hours after the send, events
are queued per arrival hour; the queue spills to a temporary directory when it grows, so memory stays flat.

Endpoint export: gzip JSON lines of `EndpointResponse` objects under `raw/pinpoint_endpoints/YYYY/MM/DD/`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engagement_warehouse.sample_data.catalog import (
    AWS_ACCOUNT_ID,
    CATEGORIES,
    FROM_ADDRESS,
    PRODUCTS,
    SHOP_URL,
)
from engagement_warehouse.sample_data.clock import DAY_MS, HOUR_MS, firehose_stamp, hour_parts, iso_ms
from engagement_warehouse.sample_data.people import Device, EmailFate, Persona, User, UserFactory
from engagement_warehouse.sample_data.sink import LakeSink
from engagement_warehouse.sample_data.state import (
    EMAIL_INACTIVE,
    EMAIL_OK,
    EMAIL_OPTED_OUT,
    SMS_OK,
    SMS_OPTED_OUT,
    UserState,
)

_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True)
class Campaign:
    """A scheduled send: which weekday offset (days before the end date, modulo 7), hour and audience."""

    campaign_id: str
    channel: str  # EMAIL | SMS
    days_before_end_mod7: int
    hour: int
    personas: frozenset[Persona]
    subject: str
    link_path: str


CAMPAIGNS: tuple[Campaign, ...] = (
    Campaign(
        "cmp_weekly_newsletter",
        "EMAIL",
        3,
        15,
        frozenset({Persona.NEW, Persona.ACTIVE, Persona.ENGAGED, Persona.AT_RISK, Persona.LAPSED}),
        "This week at Example Shop",
        "/c/outerwear",
    ),
    Campaign(
        "cmp_winback_01",
        "EMAIL",
        5,
        16,
        frozenset({Persona.AT_RISK, Persona.LAPSED, Persona.CHURNED}),
        "We miss you: 20% off your next order",
        "/c/shoes",
    ),
    Campaign(
        "cmp_flash_sale_sms",
        "SMS",
        1,
        18,
        frozenset({Persona.ACTIVE, Persona.ENGAGED, Persona.AT_RISK}),
        "",
        "/c/accessories",
    ),
)
WELCOME_JOURNEY = "jrn_welcome"


def email_endpoint_id(user: User) -> str:
    return f"ep_{user.index + 1:06d}_email"


def sms_endpoint_id(user: User) -> str:
    return f"ep_{user.index + 1:06d}_sms"


class PinpointEventStream:
    """Builds Pinpoint events and writes them per arrival hour; see the module docstring."""

    def __init__(
        self,
        sink: LakeSink,
        factory: UserFactory,
        state: UserState,
        seed: int,
        application_id: str,
        window_start_ms: int,
        n_hours: int,
        max_lines_per_object: int,
        spill_threshold: int = 50_000,
    ) -> None:
        self.sink = sink
        self.factory = factory
        self.state = state
        self.seed = seed
        self.app_id = application_id
        self.start = window_start_ms
        self.n_hours = n_hours
        self.max_lines = max_lines_per_object
        self.spill_threshold = spill_threshold
        self.pending: dict[int, list[str]] = {}
        self.pending_count = 0
        self.spill_dir: str | None = None
        self.spilled: set[int] = set()
        self.rng = random.Random(f"{seed}:pinpoint")
        self.names = random.Random(f"{seed}:pinpoint-names")
        self.rows = 0
        self.files = 0
        self.duplicates = 0
        self.duplicate_hour = n_hours // 2
        self.by_type: dict[str, int] = {}
        self._application = _DUMPS({"app_id": application_id, "sdk": {}})
        self._sdk_application = _DUMPS(
            {
                "app_id": application_id,
                "cognito_identity_pool_id": "us-east-1:00000000-0000-4000-8000-000000000000",
                "package_name": "com.example.shop",
                "sdk": {"name": "aws-amplify", "version": "6.15.0"},
                "title": "Example Shop",
                "version_name": "4.12.0",
            }
        )

    # ----------------------------------------------------------------------------------------- queueing
    def _emit(self, record: dict) -> None:
        self._emit_line(record["event_type"], record["arrival_timestamp"], _DUMPS(record))

    def _emit_line(self, event_type: str, arrival_ms: int, line: str) -> None:
        hour = (arrival_ms - self.start) // HOUR_MS
        if hour >= self.n_hours:
            return  # arrives after the window: not written yet
        self.by_type[event_type] = self.by_type.get(event_type, 0) + 1
        self.pending.setdefault(hour, []).append(line)
        self.pending_count += 1
        if self.pending_count >= self.spill_threshold:
            self._spill()

    def _spill(self) -> None:
        if self.spill_dir is None:
            self.spill_dir = tempfile.mkdtemp(prefix="ewh-sample-pinpoint-")
        for hour, lines in self.pending.items():
            with open(os.path.join(self.spill_dir, f"{hour}.jsonl"), "a", encoding="utf-8") as handle:
                handle.writelines(line + "\n" for line in lines)
            self.spilled.add(hour)
        self.pending.clear()
        self.pending_count = 0

    def _hour_lines(self, hour: int) -> Iterator[str]:
        if hour in self.spilled and self.spill_dir is not None:
            path = os.path.join(self.spill_dir, f"{hour}.jsonl")
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    yield line.rstrip("\n")
            os.remove(path)
            self.spilled.discard(hour)
        lines = self.pending.pop(hour, [])
        self.pending_count -= len(lines)
        yield from lines

    def flush_hour(self, hour: int) -> None:
        """Write every event that arrived during window hour `hour` (call once per hour, in order)."""
        hour_ms = self.start + hour * HOUR_MS
        compress = hour % 6 == 5
        chunk: list[str] = []
        for line in self._hour_lines(hour):
            chunk.append(line)
            if hour >= self.duplicate_hour and self.duplicates == 0:
                chunk.append(line)  # dirt: Firehose redelivered one record
                self.duplicates += 1
            if len(chunk) >= self.max_lines:
                self._put(chunk, hour_ms, compress)
                chunk = []
        if chunk:
            self._put(chunk, hour_ms, compress)

    def _put(self, lines: list[str], hour_ms: int, compress: bool) -> None:
        yyyy, mm, dd, hh = hour_parts(hour_ms)
        offset = min(HOUR_MS - 1000, (self.files * 7 + 5) * 60_000 % HOUR_MS)
        name_uuid = uuid.UUID(int=self.names.getrandbits(128), version=4)
        key = (
            f"raw/pinpoint_events/{yyyy}/{mm}/{dd}/{hh}/"
            f"ewh-pinpoint-events-1-{firehose_stamp(hour_ms + offset)}-{name_uuid}{'.gz' if compress else ''}"
        )
        self.sink.put_lines(key, lines, compress)
        self.rows += len(lines)
        self.files += 1

    def close(self) -> None:
        """Drop queued events that arrive after the window and remove the spill directory."""
        self.pending.clear()
        if self.spill_dir is not None:
            shutil.rmtree(self.spill_dir, ignore_errors=True)
            self.spill_dir = None

    # ------------------------------------------------------------------------------------------ records
    def _envelope(self, event_type: str, event_ms: int, arrival_ms: int, client_id: str) -> dict:
        return {
            "event_type": event_type,
            "event_timestamp": event_ms,
            "arrival_timestamp": arrival_ms,
            "event_version": "3.1",
            "application": {"app_id": self.app_id, "sdk": {}},
            "client": {"client_id": client_id},
            "device": {"platform": {}},
            "session": {},
            "attributes": {},
            "awsAccountId": AWS_ACCOUNT_ID,
        }

    def app_session(self, user: User, device: Device, start_ms: int, stop_ms: int, user_id: str | None) -> None:
        """`_session.start` and `_session.stop` from the mobile SDK for one app session."""
        rng = self.rng
        session_id = f"{rng.getrandbits(32):08x}-{firehose_stamp(start_ms).replace('-', '')}"
        platform = "ios" if "iPhone" in device.context_head or "iPad" in device.context_head else "android"
        endpoint: dict = {
            "ChannelType": "APNS" if platform == "ios" else "GCM",
            "EndpointStatus": "ACTIVE",
            "OptOut": "ALL",
            "Demographic": {"Platform": platform, "Locale": user.locale, "Timezone": user.timezone},
            "Location": {"Country": user.country},
        }
        if user_id:
            endpoint["User"] = {"UserId": user_id}
        head = (
            f',"event_version":"3.0","application":{self._sdk_application},'
            f'"client":{{"client_id":"{device.anonymous_id}","cognito_id":"us-east-1:{device.anonymous_id}"}},'
            + '"device":'
            + _DUMPS(
                {
                    "locale": {"code": user.locale.replace("-", "_"), "country": user.country},
                    "make": "apple" if platform == "ios" else "google",
                    "platform": {"name": platform, "version": "18.6" if platform == "ios" else "15"},
                }
            )
        )
        tail = f',"attributes":{{}},"awsAccountId":"{AWS_ACCOUNT_ID}","endpoint":{_DUMPS(endpoint)}}}'
        start_arrival = start_ms + rng.randint(800, 45_000)
        self._emit_line(
            "_session.start",
            start_arrival,
            f'{{"event_type":"_session.start","event_timestamp":{start_ms},"arrival_timestamp":{start_arrival}'
            f'{head},"session":{{"session_id":"{session_id}","start_timestamp":{start_ms}}}{tail}',
        )
        stop_arrival = stop_ms + rng.randint(800, 45_000)
        self._emit_line(
            "_session.stop",
            stop_arrival,
            f'{{"event_type":"_session.stop","event_timestamp":{stop_ms},"arrival_timestamp":{stop_arrival}'
            f'{head},"session":{{"session_id":"{session_id}","start_timestamp":{start_ms},'
            f'"stop_timestamp":{stop_ms}}}{tail}',
        )

    def _email_ids(self) -> tuple[str, str]:
        rng = self.rng
        message_id = f"0100{rng.getrandbits(60):015x}-{uuid.UUID(int=rng.getrandbits(128), version=4)}-000000"
        return message_id, str(rng.getrandbits(64))

    def send_email(
        self,
        user: User,
        send_ms: int,
        subject: str,
        link_path: str,
        campaign_id: str | None = None,
        journey_id: str | None = None,
    ) -> None:
        """One email to the user's email endpoint and everything that follows it (delivery, opens...)."""
        rng = self.rng
        state = self.state
        endpoint_id = email_endpoint_id(user)
        message_id, activity = self._email_ids()
        address = user.address
        attributes: dict[str, str]
        if journey_id is not None:
            run_id = f"{journey_id}_run_{firehose_stamp(send_ms)[:10].replace('-', '')}"
            attributes = {
                "journey_id": journey_id,
                "journey_run_id": run_id,
                "journey_activity_id": "welcome_email_1",
                "message_id": message_id,
            }
            send = self._envelope("_journey.send", send_ms, send_ms + rng.randint(50, 900), endpoint_id)
            send["attributes"] = {
                **attributes,
                "journey_activity_type": "EMAIL",
                "journey_send_status": "SUCCESS",
            }
        else:
            attributes = {
                "campaign_id": campaign_id or "",
                "campaign_activity_id": activity,
                "treatment_id": "0",
                "message_id": message_id,
            }
            send = self._envelope("_campaign.send", send_ms, send_ms + rng.randint(50, 900), endpoint_id)
            send["attributes"] = {
                **attributes,
                "delivery_type": "EMAIL",
                "campaign_send_status": "SUCCESS",
            }
        self._emit(send)

        mail = {
            "message_id": message_id,
            "message_send_timestamp": send_ms,
            "from_address": FROM_ADDRESS,
            "destination": [address],
            "headers_truncated": False,
            "headers": [
                {"name": "From", "value": FROM_ADDRESS},
                {"name": "To", "value": address},
                {"name": "Subject", "value": subject},
            ],
            "common_headers": {"from": FROM_ADDRESS, "to": [address], "subject": subject},
        }

        head = (
            f',"event_version":"3.1","application":{self._application},'
            f'"client":{{"client_id":"{endpoint_id}"}},"device":{{"platform":{{}}}},"session":{{}},'
        )
        attributes_json = _DUMPS(attributes)
        tail = f',"awsAccountId":"{AWS_ACCOUNT_ID}","facets":{{"email_channel":{{"mail_event":{{"mail":{_DUMPS(mail)}'

        def email_event(event_type: str, arrival_ms: int, detail: dict | None = None, **extra: str) -> None:
            attrs = _DUMPS({**attributes, **extra}) if extra else attributes_json
            detail_json = f',"{event_type.removeprefix("_email.")}":{_DUMPS(detail)}' if detail is not None else ""
            self._emit_line(
                event_type,
                arrival_ms,
                f'{{"event_type":"{event_type}","event_timestamp":{send_ms},"arrival_timestamp":{arrival_ms}'
                f'{head}"attributes":{attrs}{tail}{detail_json}}}}}}}}}',
            )

        email_event("_email.send", send_ms + rng.randint(100, 2_000))
        if user.email_fate is EmailFate.HARD_BOUNCES:
            email_event("_email.hardbounce", send_ms + rng.randint(2_000, 60_000), {"bounce_type": "Permanent"})
            state.email[user.index] = EMAIL_INACTIVE
            return
        if rng.random() < 0.01:
            email_event("_email.softbounce", send_ms + rng.randint(2_000, 600_000), {"bounce_type": "Transient"})
            return
        delivered_ms = send_ms + rng.randint(1_000, 90_000)
        email_event(
            "_email.delivered",
            delivered_ms,
            {"smtp_response": "250 2.0.0 OK", "processing_time_millis": delivered_ms - send_ms},
        )
        leaves = user.email_fate in (EmailFate.UNSUBSCRIBES, EmailFate.COMPLAINS) and rng.random() < 0.6
        if rng.random() >= user.open_rate and not leaves:
            return
        open_ms = delivered_ms + int(rng.expovariate(1 / (3 * HOUR_MS)))
        for _ in range(1 + (rng.random() < 0.25)):
            email_event("_email.open", open_ms, {"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0"})
            open_ms += int(rng.expovariate(1 / HOUR_MS))
        if leaves:
            if user.email_fate is EmailFate.COMPLAINS:
                email_event(
                    "_email.complaint",
                    open_ms + rng.randint(5_000, 600_000),
                    {"complaint_feedback_type": "abuse"},
                )
            else:
                email_event("_email.unsubscribe", open_ms + rng.randint(5_000, 600_000))
            state.email[user.index] = EMAIL_OPTED_OUT
            return
        if rng.random() < (0.45 if user.persona is Persona.ENGAGED else 0.25):
            utm = f"utm_source=pinpoint&utm_medium=email&utm_campaign={campaign_id or journey_id}"
            link = f"{SHOP_URL}{link_path}?{utm}"
            email_event(
                "_email.click",
                open_ms + rng.randint(3_000, 300_000),
                {"link": link, "link_tags": {}, "ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0"},
                feedback=link,
            )

    def send_sms(self, user: User, send_ms: int, campaign_id: str) -> None:
        """One promotional SMS and its carrier receipt (and sometimes an opt-out reply)."""
        rng = self.rng
        endpoint_id = sms_endpoint_id(user)
        message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        activity = str(rng.getrandbits(64))
        base = {
            "campaign_id": campaign_id,
            "campaign_activity_id": activity,
            "treatment_id": "0",
            "message_id": message_id,
            "message_type": "PROMOTIONAL",
        }
        send = self._envelope("_campaign.send", send_ms, send_ms + rng.randint(50, 900), endpoint_id)
        send["attributes"] = {**base, "delivery_type": "SMS", "campaign_send_status": "SUCCESS"}
        self._emit(send)
        failed = rng.random() < 0.04
        receipt = self._envelope(
            "_SMS.FAILURE" if failed else "_SMS.SUCCESS",
            send_ms,
            send_ms + rng.randint(2_000, 3 * HOUR_MS if failed else 120_000),
            endpoint_id,
        )
        receipt["attributes"] = {
            **base,
            "sender_request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "destination_phone_number": user.phone,
            "origination_phone_number": "+18445550100",
            "record_status": "UNREACHABLE" if failed else "DELIVERED",
            "iso_country_code": user.country,
            "number_of_message_parts": "1",
        }
        receipt["metrics"] = {"price_in_millicents_usd": 645.0 if user.country in ("US", "CA") else 3850.0}
        self._emit(receipt)
        if not failed and user.sms_opts_out and rng.random() < 0.7:
            optout = self._envelope("_SMS.OPTOUT", send_ms, send_ms + rng.randint(60_000, 2 * HOUR_MS), endpoint_id)
            optout["attributes"] = {
                **base,
                "destination_phone_number": user.phone,
                "record_status": "OPTED_OUT",
                "keyword": "STOP",
            }
            self._emit(optout)
            self.state.sms[user.index] = SMS_OPTED_OUT

    # ------------------------------------------------------------------------------------- scheduling
    def run_campaigns(self, hour: int, end_ms: int) -> None:
        """Send every campaign scheduled at window hour `hour` to its audience."""
        hour_ms = self.start + hour * HOUR_MS
        days_before_end = (end_ms - hour_ms) // DAY_MS
        hour_of_day = (hour_ms % DAY_MS) // HOUR_MS
        for campaign in CAMPAIGNS:
            if days_before_end % 7 != campaign.days_before_end_mod7 or hour_of_day != campaign.hour:
                continue
            audience = np.flatnonzero(np.isin(self.factory.personas, [int(p) for p in campaign.personas]))
            for index in audience.tolist():
                user = self.factory.get(index)
                send_ms = hour_ms + int(self.rng.random() * 40 * 60_000)
                if not has_account(user, self.state, send_ms):
                    continue
                if campaign.channel == "EMAIL":
                    if user.email_fate is EmailFate.OPTED_OUT or self.state.email[index] != EMAIL_OK:
                        continue
                    self.send_email(
                        user, send_ms, campaign.subject, campaign.link_path, campaign_id=campaign.campaign_id
                    )
                elif user.has_sms and self.state.sms[index] == SMS_OK:
                    self.send_sms(user, send_ms, campaign.campaign_id)

    def welcome(self, user: User, signup_ms: int) -> None:
        """The welcome journey's first email, one hour after sign-up."""
        if user.email_fate is EmailFate.OPTED_OUT:
            return
        self.send_email(
            user,
            signup_ms + HOUR_MS + self.rng.randint(0, 300_000),
            f"Welcome to Example Shop, {user.first_name}",
            "/c/" + next(iter(CATEGORIES)),
            journey_id=WELCOME_JOURNEY,
        )


def has_account(user: User, state: UserState, at_ms: int) -> bool:
    """Whether the user has signed up (and so has endpoints) at `at_ms`."""
    if user.persona is Persona.ANONYMOUS:
        return False
    if user.created_before_ms:
        return user.created_before_ms <= at_ms
    created = int(state.created_ms[user.index])
    return 0 < created <= at_ms


def _endpoint(
    user: User,
    channel: str,
    address: str,
    status: str,
    opt_out: str,
    created_ms: int,
    effective_ms: int,
    application_id: str,
    export_day: int,
    request_id: str,
) -> dict:
    categories = tuple(CATEGORIES)
    favourite = categories[(user.index + export_day // 7) % len(categories)]
    return {
        "Address": address,
        "ApplicationId": application_id,
        "Attributes": {"PreferredCategory": [favourite], "SignupSource": ["web"]},
        "ChannelType": channel,
        "CohortId": user.cohort_id,
        "CreationDate": iso_ms(created_ms),
        "Demographic": {"Locale": user.locale, "Timezone": user.timezone, "Platform": "web"},
        "EffectiveDate": iso_ms(effective_ms),
        "EndpointStatus": status,
        "Id": f"ep_{user.index + 1:06d}_{channel.lower()}",
        "Location": {"City": user.city, "Country": user.country},
        "Metrics": {"ProductsInCatalogue": float(len(PRODUCTS))} if channel == "EMAIL" else {},
        "OptOut": opt_out,
        "RequestId": request_id,
        "User": {
            "UserAttributes": {"FirstName": [user.first_name], "Country": [user.country]},
            "UserId": user.user_id,
        },
    }


def write_endpoint_export(
    sink: LakeSink,
    factory: UserFactory,
    state: UserState,
    seed: int,
    application_id: str,
    export_ms: int,
    max_lines_per_object: int,
) -> tuple[int, int]:
    """Write one CreateExportJob output as of `export_ms` (`state` as of then); returns (rows, files).

    Only users with an account at `export_ms` have endpoints: an email endpoint each and an SMS endpoint
    for those who gave a phone. Statuses and opt-outs follow the user state (bounces, unsubscribes, STOP).
    """
    rng = random.Random(f"{seed}:export:{export_ms}")
    job_id = f"{rng.getrandbits(128):032x}"
    request_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    yyyy, mm, dd, _ = hour_parts(export_ms)
    export_day = export_ms // DAY_MS
    rows = files = 0
    chunk: list[str] = []

    def put() -> None:
        nonlocal files, rows, chunk
        sink.put_lines(f"raw/pinpoint_endpoints/{yyyy}/{mm}/{dd}/{job_id}-{files:05d}.gz", chunk, True)
        files += 1
        rows += len(chunk)
        chunk = []

    for index in np.flatnonzero(factory.personas != int(Persona.ANONYMOUS)).tolist():
        user = factory.get(index)
        if not has_account(user, state, export_ms):
            continue
        created = user.created_before_ms or int(state.created_ms[index])
        age_days = max(0, (export_ms - created) // DAY_MS)
        effective = created + ((index * 7919) % (age_days + 1)) * DAY_MS
        email_status, email_opt_out = "ACTIVE", "NONE"
        if user.email_fate is EmailFate.OPTED_OUT or state.email[index] == EMAIL_OPTED_OUT:
            email_opt_out = "ALL"
        if state.email[index] == EMAIL_INACTIVE:
            email_status = "INACTIVE"
        chunk.append(
            _DUMPS(
                _endpoint(
                    user,
                    "EMAIL",
                    user.address,
                    email_status,
                    email_opt_out,
                    created,
                    effective,
                    application_id,
                    export_day,
                    request_id,
                )
            )
        )
        if user.has_sms:
            sms_opt_out = "ALL" if state.sms[index] == SMS_OPTED_OUT else "NONE"
            chunk.append(
                _DUMPS(
                    _endpoint(
                        user,
                        "SMS",
                        user.phone,
                        "ACTIVE",
                        sms_opt_out,
                        created,
                        effective,
                        application_id,
                        export_day,
                        request_id,
                    )
                )
            )
        if len(chunk) >= max_lines_per_object:
            put()
    if chunk or files == 0:
        put()
    return rows, files
