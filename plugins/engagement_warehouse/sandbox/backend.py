"""Pinpoint's behaviour behind the sandbox's HTTP layer: endpoints, segments, import and export jobs.

Rules enforced on every endpoint write, from UpdateEndpointsBatch or an import job:
- attribute names at most 50 characters, values at most 100, at most 50 values per attribute;
- at most 250 distinct custom attribute names per app across Attributes, Metrics and
  User.UserAttributes (the app keeps every name it ever captured);
- an endpoint's JSON at most 15 KB; SMS and VOICE addresses in E.164; Metrics numbers only;
- a new endpoint needs Address and ChannelType;
- at most 15 endpoints per user id: a 16th push endpoint deactivates the user's oldest endpoint, any
  other channel is rejected;
- new attribute values overwrite the old ones (per attribute name); other fields merge per member;
- an endpoint written with an (channel, address) that another endpoint has sets that other one INACTIVE.

A batch with ONE invalid item is rejected whole (400 BadRequestException, nothing applied), as
Pinpoint validates the whole request before accepting it. An import job instead skips bad rows and
reports them (TotalFailures, first 100 in Failures) while importing the good ones.

Jobs advance CREATED -> INITIALIZING -> PROCESSING -> COMPLETED|FAILED, one state per GetImportJob /
GetExportJob call by default, or by elapsed time when `job_step_seconds` is set, so callers must poll.
The work (reading files, writing endpoints, defining the segment, writing the export) happens when
the job reaches its terminal state. New endpoints default to EndpointStatus ACTIVE and OptOut NONE.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from engagement_warehouse.sandbox.faults import FaultInjector
from engagement_warehouse.sandbox.importfiles import (
    MAX_IMPORT_BYTES,
    ImportFileError,
    parse_import,
    read_source,
    s3_client,
)
from engagement_warehouse.sandbox.model import ApiError, bad_request, not_found, shape, validate_shape

MAX_BATCH_ITEMS = 100
MAX_NAME_CHARS = 50
MAX_VALUE_CHARS = 100
MAX_VALUES_PER_ATTRIBUTE = 50
MAX_CUSTOM_ATTRIBUTES = 250
MAX_ENDPOINT_BYTES = 15 * 1024
MAX_ENDPOINTS_PER_USER = 15
MAX_FAILURES_LISTED = 100
EXPORT_LINES_PER_FILE = 10_000
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
PUSH_CHANNELS = {"PUSH", "GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "ADM", "BAIDU"}
JOB_STATES = ("CREATED", "INITIALIZING", "PROCESSING")
TERMINAL = ("COMPLETED", "FAILED")
ACCOUNT = "000000000000"
REGION = "us-east-1"


def now_iso() -> str:
    """Current UTC time the way Pinpoint formats dates (ISO 8601, milliseconds, Z)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _new_id() -> str:
    return uuid.uuid4().hex


def _cohort(endpoint_id: str) -> str:
    return str(int(hashlib.md5(endpoint_id.encode()).hexdigest(), 16) % 100)


def _page(items: list[dict[str, Any]], params: dict[str, str]) -> dict[str, Any]:
    try:
        start = int(params.get("Token") or 0)
        size = int(params.get("PageSize") or 100)
    except ValueError:
        raise bad_request("PageSize and Token must be integers") from None
    if start < 0 or size < 1:
        raise bad_request("PageSize must be positive and Token not negative")
    out: dict[str, Any] = {"Item": items[start : start + size]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out


def _item_errors(item: dict[str, Any], existing: dict[str, Any] | None) -> list[str]:
    """Limits that do not depend on the rest of the registry."""
    errors = validate_shape(item, shape("EndpointBatchItem"), "Endpoint")
    if errors:
        return errors
    maps = [("Attributes", item.get("Attributes") or {}), ("Metrics", item.get("Metrics") or {})]
    maps.append(("User.UserAttributes", (item.get("User") or {}).get("UserAttributes") or {}))
    for kind, values in maps:
        for name, value in values.items():
            if len(name) > MAX_NAME_CHARS:
                errors.append(f"{kind} name {name[:60]!r} is longer than {MAX_NAME_CHARS} characters")
            if kind == "Metrics":
                continue
            if len(value) > MAX_VALUES_PER_ATTRIBUTE:
                errors.append(f"{kind}.{name} has more than {MAX_VALUES_PER_ATTRIBUTE} values")
            errors.extend(
                f"{kind}.{name} value is longer than {MAX_VALUE_CHARS} characters"
                for v in value
                if len(v) > MAX_VALUE_CHARS
            )
    channel = item.get("ChannelType") or (existing or {}).get("ChannelType")
    address = item.get("Address") or (existing or {}).get("Address")
    if existing is None and (not item.get("Address") or not item.get("ChannelType")):
        errors.append("A new endpoint needs Address and ChannelType")
    if channel in ("SMS", "VOICE") and address and not E164.match(address):
        errors.append(f"{channel} address {address!r} is not in E.164 format")
    return errors


def _merge(existing: dict[str, Any] | None, item: dict[str, Any], app_id: str, endpoint_id: str) -> dict[str, Any]:
    stamp = now_iso()
    if existing is None:
        endpoint: dict[str, Any] = {
            "ApplicationId": app_id,
            "Id": endpoint_id,
            "CohortId": _cohort(endpoint_id),
            "CreationDate": stamp,
            "EndpointStatus": "ACTIVE",
            "OptOut": "NONE",
            "Attributes": {},
            "Metrics": {},
            "User": {},
            "Demographic": {},
            "Location": {},
        }
    else:
        endpoint = copy.deepcopy(existing)
    for key in ("Address", "ChannelType", "OptOut", "EffectiveDate", "RequestId", "EndpointStatus"):
        if item.get(key) is not None:
            endpoint[key] = item[key]
    for key in ("Attributes", "Metrics", "Demographic", "Location"):
        endpoint.setdefault(key, {}).update(item.get(key) or {})
    user = item.get("User") or {}
    if user.get("UserId") is not None:
        endpoint["User"]["UserId"] = user["UserId"]
    if user.get("UserAttributes"):
        endpoint["User"].setdefault("UserAttributes", {}).update(user["UserAttributes"])
    endpoint["EffectiveDate"] = item.get("EffectiveDate") or stamp
    return endpoint


def _attribute_names(endpoint_or_item: dict[str, Any]) -> set[tuple[str, str]]:
    names = {("Attributes", n) for n in endpoint_or_item.get("Attributes") or {}}
    names |= {("Metrics", n) for n in endpoint_or_item.get("Metrics") or {}}
    user_attrs = (endpoint_or_item.get("User") or {}).get("UserAttributes") or {}
    return names | {("UserAttributes", n) for n in user_attrs}


class _Plan:
    """Endpoint writes validated against the registry plus the writes planned before them."""

    def __init__(self, backend: PinpointBackend, app_id: str) -> None:
        self.backend = backend
        self.app_id = app_id
        self.pending: dict[str, dict[str, Any]] = {}
        self.deactivate: set[str] = set()
        self.names = backend._attribute_name_set(app_id)
        self.failures: list[str] = []

    def endpoint(self, endpoint_id: str) -> dict[str, Any] | None:
        return self.pending.get(endpoint_id) or self.backend._endpoint(self.app_id, endpoint_id)

    def add(self, ref: str, item: dict[str, Any]) -> str | None:
        """Plan one item; returns its endpoint id, or None (and records why) if it is invalid."""
        endpoint_id = item.get("Id") or _new_id()
        existing = self.endpoint(endpoint_id)
        errors = _item_errors(item, existing)
        if not errors:
            merged = _merge(existing, item, self.app_id, endpoint_id)
            if len(json.dumps(merged, separators=(",", ":")).encode()) > MAX_ENDPOINT_BYTES:
                errors.append(f"Endpoint {endpoint_id} is larger than {MAX_ENDPOINT_BYTES} bytes")
            new_names = _attribute_names(item) - self.names
            if len(self.names) + len(new_names) > MAX_CUSTOM_ATTRIBUTES:
                errors.append(f"The app would exceed {MAX_CUSTOM_ATTRIBUTES} custom attribute names")
            errors.extend(self._user_limit(merged, existing))
        if errors:
            self.failures.append(f"{ref}: {'; '.join(errors)}")
            return None
        self.names |= new_names
        self.pending[endpoint_id] = merged
        return endpoint_id

    def _user_limit(self, merged: dict[str, Any], existing: dict[str, Any] | None) -> list[str]:
        user_id = merged.get("User", {}).get("UserId")
        if not user_id or (existing and existing.get("User", {}).get("UserId") == user_id):
            return []
        others = {e["Id"]: e for e in self.backend._user_endpoints(self.app_id, user_id) if e["Id"] != merged["Id"]}
        others.update(
            {i: e for i, e in self.pending.items() if i != merged["Id"] and e.get("User", {}).get("UserId") == user_id}
        )
        active = [e for i, e in others.items() if i not in self.deactivate]
        if len(active) < MAX_ENDPOINTS_PER_USER:
            return []
        if merged.get("ChannelType") in PUSH_CHANNELS:
            oldest = min(active, key=lambda e: e.get("CreationDate", ""))
            self.deactivate.add(oldest["Id"])
            return []
        return [f"User {user_id} already has {MAX_ENDPOINTS_PER_USER} endpoints"]


class PinpointBackend:
    """The operations the sandbox implements, over one SQLite connection (serialised by a lock)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        faults: FaultInjector,
        max_concurrent_import_jobs: int = 2,
        job_step_seconds: float | None = None,
        max_import_bytes: int = MAX_IMPORT_BYTES,
    ) -> None:
        self.conn = conn
        self.faults = faults
        self.lock = threading.RLock()
        self.max_concurrent_import_jobs = max_concurrent_import_jobs
        self.job_step_seconds = job_step_seconds
        self.max_import_bytes = max_import_bytes

    # ---------------------------------------------------------------- dispatch
    def handle(self, operation: str, params: dict[str, str], body: Any) -> Any:
        """Run `operation`; raises ApiError for Pinpoint errors, returns the output payload."""
        handler = getattr(self, f"op_{operation}", None)
        if handler is None:
            raise ApiError(405, "MethodNotAllowedException", f"{operation} is not implemented by the sandbox")
        with self.lock:
            self._ensure_app(params["ApplicationId"])
            try:
                result = handler(params, body)
                self.conn.commit()
                return result
            except BaseException:
                self.conn.rollback()
                raise

    def reset(self) -> None:
        """Delete all state (apps, endpoints, segments, jobs, request log)."""
        from engagement_warehouse.sandbox.store import TABLES

        with self.lock:
            for table in TABLES:
                self.conn.execute(f"delete from {table}")
            self.conn.commit()

    # ---------------------------------------------------------------- helpers
    def _ensure_app(self, app_id: str) -> None:
        self.conn.execute(
            "insert or ignore into apps (app_id, name, created) values (?, ?, ?)", (app_id, app_id, now_iso())
        )

    def _endpoint(self, app_id: str, endpoint_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "select body from endpoints where app_id = ? and endpoint_id = ?", (app_id, endpoint_id)
        ).fetchone()
        return json.loads(row["body"]) if row else None

    def _user_endpoints(self, app_id: str, user_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "select body from endpoints where app_id = ? and user_id = ? order by created, endpoint_id",
            (app_id, user_id),
        )
        return [json.loads(r["body"]) for r in rows]

    def _attribute_name_set(self, app_id: str) -> set[tuple[str, str]]:
        rows = self.conn.execute("select kind, name from attribute_names where app_id = ?", (app_id,))
        return {(r["kind"], r["name"]) for r in rows}

    def _write_endpoint(self, app_id: str, endpoint: dict[str, Any]) -> None:
        self.conn.execute(
            "insert or replace into endpoints (app_id, endpoint_id, user_id, channel_type, address, status,"
            " body, created, updated) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                app_id,
                endpoint["Id"],
                endpoint.get("User", {}).get("UserId"),
                endpoint.get("ChannelType"),
                endpoint.get("Address"),
                endpoint.get("EndpointStatus"),
                json.dumps(endpoint),
                endpoint.get("CreationDate"),
                now_iso(),
            ),
        )

    def _set_inactive(self, app_id: str, endpoint_id: str) -> None:
        endpoint = self._endpoint(app_id, endpoint_id)
        if endpoint and endpoint.get("EndpointStatus") != "INACTIVE":
            endpoint["EndpointStatus"] = "INACTIVE"
            self._write_endpoint(app_id, endpoint)

    def _commit_plan(self, plan: _Plan) -> None:
        app_id = plan.app_id
        for endpoint in plan.pending.values():  # in request order: a later item wins an address
            self._write_endpoint(app_id, endpoint)
            if endpoint.get("Address") and endpoint.get("EndpointStatus") == "ACTIVE":
                rows = self.conn.execute(
                    "select endpoint_id from endpoints where app_id = ? and channel_type = ? and address = ?"
                    " and endpoint_id != ?",
                    (app_id, endpoint.get("ChannelType"), endpoint["Address"], endpoint["Id"]),
                )
                for row in rows.fetchall():
                    self._set_inactive(app_id, row["endpoint_id"])
        for endpoint_id in plan.deactivate:
            self._set_inactive(app_id, endpoint_id)
        self.conn.executemany(
            "insert or ignore into attribute_names (app_id, kind, name) values (?, ?, ?)",
            [(app_id, kind, name) for kind, name in plan.names],
        )

    def _segment(self, app_id: str, segment_id: str) -> dict[str, Any]:
        row = self.conn.execute(
            "select body from segments where app_id = ? and segment_id = ?", (app_id, segment_id)
        ).fetchone()
        if row is None:
            raise not_found(f"Segment {segment_id} not found")
        return json.loads(row["body"])

    def _save_segment(self, app_id: str, segment: dict[str, Any], members: list[str] | None) -> None:
        self.conn.execute(
            "insert or replace into segments (app_id, segment_id, name, segment_type, version, body)"
            " values (?, ?, ?, ?, ?, ?)",
            (
                app_id,
                segment["Id"],
                segment.get("Name"),
                segment["SegmentType"],
                segment["Version"],
                json.dumps(segment),
            ),
        )
        self.conn.execute(
            "insert or replace into segment_versions (app_id, segment_id, version, body) values (?, ?, ?, ?)",
            (app_id, segment["Id"], segment["Version"], json.dumps(segment)),
        )
        if members is not None:
            self.conn.executemany(
                "insert or ignore into segment_members (app_id, segment_id, version, endpoint_id) values (?, ?, ?, ?)",
                [(app_id, segment["Id"], segment["Version"], m) for m in members],
            )

    # ---------------------------------------------------------------- endpoints
    def op_UpdateEndpointsBatch(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        items = body.get("Item") or []
        if len(items) > MAX_BATCH_ITEMS:
            raise bad_request(f"A batch holds at most {MAX_BATCH_ITEMS} items; got {len(items)}")
        plan = _Plan(self, params["ApplicationId"])
        for index, item in enumerate(items):
            if not item.get("Id"):
                plan.failures.append(f"Item[{index}]: Id is required")
                continue
            plan.add(f"Item[{index}]", item)
        if plan.failures:
            raise bad_request("; ".join(plan.failures[:10]))
        self._commit_plan(plan)
        return {"Message": "Accepted", "RequestID": _new_id()}

    def op_GetEndpoint(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        endpoint = self._endpoint(params["ApplicationId"], params["EndpointId"])
        if endpoint is None:
            raise not_found("Resource not found")
        return endpoint

    def op_GetUserEndpoints(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        endpoints = self._user_endpoints(params["ApplicationId"], params["UserId"])
        if not endpoints:
            raise not_found("Resource not found")
        return {"Item": endpoints}

    def op_DeleteEndpoint(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        endpoint = self.op_GetEndpoint(params, body)
        self.conn.execute(
            "delete from endpoints where app_id = ? and endpoint_id = ?",
            (params["ApplicationId"], params["EndpointId"]),
        )
        return endpoint

    def op_GetApp(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        app_id = params["ApplicationId"]
        row = self.conn.execute("select * from apps where app_id = ?", (app_id,)).fetchone()
        return {
            "Id": app_id,
            "Name": row["name"],
            "Arn": f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/{app_id}",
            "CreationDate": row["created"],
        }

    # ---------------------------------------------------------------- segments
    def op_CreateSegment(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        app_id, segment_id, stamp = params["ApplicationId"], _new_id(), now_iso()
        segment = {
            "ApplicationId": app_id,
            "Id": segment_id,
            "Arn": f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/{app_id}/segments/{segment_id}",
            "CreationDate": stamp,
            "LastModifiedDate": stamp,
            "SegmentType": "DIMENSIONAL",
            "Version": 1,
            **{k: v for k, v in body.items() if k in ("Name", "Dimensions", "SegmentGroups", "tags")},
        }
        self._save_segment(app_id, segment, None)
        return segment

    def op_GetSegment(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        return self._segment(params["ApplicationId"], params["SegmentId"])

    def op_GetSegments(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        rows = self.conn.execute(
            "select body from segments where app_id = ? order by rowid", (params["ApplicationId"],)
        )
        return _page([json.loads(r["body"]) for r in rows], params)

    def op_GetSegmentVersion(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        row = self.conn.execute(
            "select body from segment_versions where app_id = ? and segment_id = ? and version = ?",
            (params["ApplicationId"], params["SegmentId"], params["Version"]),
        ).fetchone()
        if row is None:
            raise not_found(f"Segment {params['SegmentId']} version {params['Version']} not found")
        return json.loads(row["body"])

    def op_GetSegmentVersions(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        self._segment(params["ApplicationId"], params["SegmentId"])
        rows = self.conn.execute(
            "select body from segment_versions where app_id = ? and segment_id = ? order by version",
            (params["ApplicationId"], params["SegmentId"]),
        )
        return _page([json.loads(r["body"]) for r in rows], params)

    # ---------------------------------------------------------------- jobs
    def _job(self, table: str, app_id: str, job_id: str) -> sqlite3.Row:
        row = self.conn.execute(
            f"select * from {table} where app_id = ? and job_id = ?",
            (app_id, job_id),
        ).fetchone()
        if row is None:
            raise not_found(f"Job {job_id} not found")
        return row

    def _advance(self, table: str, row: sqlite3.Row, by_call: bool) -> dict[str, Any]:
        """Move a job forward (one step per call, or by elapsed time) and run it when it finishes."""
        job = json.loads(row["body"])
        if job["JobStatus"] in TERMINAL:
            return job
        step = row["step"]
        if self.job_step_seconds is not None:
            elapsed = time.time() - float(row["created"])
            target = min(len(JOB_STATES), int(elapsed / self.job_step_seconds)) if self.job_step_seconds else 99
        else:
            target = step + 1 if by_call else step
        target = min(target, len(JOB_STATES))
        if target == step:
            return job
        if target >= len(JOB_STATES):
            job = self._run_import(job) if table == "import_jobs" else self._run_export(job)
        else:
            job["JobStatus"] = JOB_STATES[target]
        self.conn.execute(
            f"update {table} set status = ?, step = ?, body = ? where app_id = ? and job_id = ?",
            (job["JobStatus"], target, json.dumps(job), job["ApplicationId"], job["Id"]),
        )
        return job

    def _jobs(self, table: str, app_id: str, segment_id: str | None = None) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            f"select * from {table} where app_id = ? order by rowid",
            (app_id,),
        ).fetchall()
        jobs = [self._advance(table, row, by_call=False) for row in rows]
        if segment_id is not None:
            jobs = [j for j in jobs if j["Definition"].get("SegmentId") == segment_id]
        return jobs

    def _insert_job(self, table: str, job: dict[str, Any]) -> None:
        self.conn.execute(
            f"insert into {table} (app_id, job_id, status, step, body, created) values (?, ?, ?, 0, ?, ?)",
            (job["ApplicationId"], job["Id"], job["JobStatus"], json.dumps(job), repr(time.time())),
        )

    @staticmethod
    def _check_url(url: str, member: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme == "s3" and parsed.netloc:
            return
        if parsed.scheme == "file" and not parsed.netloc and unquote(parsed.path).startswith("/"):
            return
        raise bad_request(f"{member} must be an s3://bucket/key URL (or file:///abs/path in the sandbox)")

    @staticmethod
    def _check_role(role_arn: str) -> None:
        if not role_arn.startswith("arn:"):
            raise bad_request("RoleArn must be an IAM role ARN")

    def op_CreateImportJob(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        app_id = params["ApplicationId"]
        self._check_url(body["S3Url"], "S3Url")
        self._check_role(body["RoleArn"])
        if body.get("SegmentId"):
            segment = self._segment(app_id, body["SegmentId"])
            if segment["SegmentType"] != "IMPORT":
                raise bad_request("SegmentId must name an imported segment")
        running = [j for j in self._jobs("import_jobs", app_id) if j["JobStatus"] not in TERMINAL]
        if len(running) >= self.max_concurrent_import_jobs:
            raise ApiError(429, "TooManyRequestsException", "Too many concurrent import jobs")
        return self._create_job("import_jobs", "IMPORT", app_id, body)

    def _create_job(self, table: str, job_type: str, app_id: str, body: Any) -> dict[str, Any]:
        """A new import or export job in state CREATED (it advances as callers poll it)."""
        job = {
            "ApplicationId": app_id,
            "Id": _new_id(),
            "Type": job_type,
            "JobStatus": "CREATED",
            "CreationDate": now_iso(),
            "Definition": dict(body),
            "TotalPieces": 0,
            "CompletedPieces": 0,
            "FailedPieces": 0,
            "TotalProcessed": 0,
            "TotalFailures": 0,
        }
        self._insert_job(table, job)
        return job

    def op_GetImportJob(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        row = self._job("import_jobs", params["ApplicationId"], params["JobId"])
        return self._advance("import_jobs", row, by_call=True)

    def op_GetImportJobs(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        return _page(self._jobs("import_jobs", params["ApplicationId"]), params)

    def op_GetSegmentImportJobs(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        jobs = self._jobs("import_jobs", params["ApplicationId"], params["SegmentId"])
        return _page(jobs, params)

    def _fail(self, job: dict[str, Any], pieces: int, failures: list[str]) -> dict[str, Any]:
        job.update(
            JobStatus="FAILED",
            CompletionDate=now_iso(),
            TotalPieces=max(pieces, 1),
            CompletedPieces=0,
            FailedPieces=max(pieces, 1),
            Failures=failures[:MAX_FAILURES_LISTED],
        )
        return job

    def _run_import(self, job: dict[str, Any]) -> dict[str, Any]:
        app_id, definition = job["ApplicationId"], job["Definition"]
        outcome = self.faults.config.import_outcome
        try:
            parsed = parse_import(read_source(definition["S3Url"], self.max_import_bytes), definition["Format"])
        except ImportFileError as exc:
            return self._fail(job, 1, [str(exc)])
        except Exception as exc:  # an unreadable bucket or folder fails the job, as in Pinpoint
            return self._fail(job, 1, [f"Could not read {definition['S3Url']}: {exc}"])
        if outcome == "failed":
            return self._fail(job, parsed.pieces, ["Injected failure: the import job failed"])
        failures = list(parsed.failures)
        items = parsed.items
        if outcome == "completed_with_failures":
            injected = self.faults.config.import_failed_rows
            failures.extend(f"{ref}: injected row failure" for ref, _ in items[:injected])
            items = items[injected:]
        members: list[str] = []
        if parsed.kind == "endpoints":
            plan = _Plan(self, app_id)
            register = definition.get("RegisterEndpoints", True)
            for ref, item in items:
                endpoint_id = plan.add(ref, item)
                if endpoint_id:
                    members.append(endpoint_id)
            failures.extend(plan.failures)
            if register:
                self._commit_plan(plan)
        else:
            for ref, item in items:
                if parsed.kind == "ids":
                    found = [item["Id"]] if self._endpoint(app_id, item["Id"]) else []
                else:
                    found = [e["Id"] for e in self._user_endpoints(app_id, item["User"]["UserId"])]
                if found:
                    members.extend(found)
                else:
                    failures.append(f"{ref}: no existing endpoint matches")
        members = sorted(set(members))
        self._define_segment(job, members, parsed.size)
        job.update(
            JobStatus="COMPLETED",
            CompletionDate=now_iso(),
            TotalPieces=parsed.pieces,
            CompletedPieces=parsed.pieces,
            FailedPieces=0,
            TotalProcessed=len(parsed.items) + len(parsed.failures),
            TotalFailures=len(failures),
            Failures=failures[:MAX_FAILURES_LISTED],
        )
        return job

    def _define_segment(self, job: dict[str, Any], members: list[str], size: int) -> None:
        app_id, definition = job["ApplicationId"], job["Definition"]
        if not (definition.get("SegmentId") or definition.get("DefineSegment") or definition.get("SegmentName")):
            return
        channels: dict[str, int] = {}
        for endpoint_id in members:
            endpoint = self._endpoint(app_id, endpoint_id) or {}
            channel = endpoint.get("ChannelType", "CUSTOM")
            channels[channel] = channels.get(channel, 0) + 1
        import_definition = {
            "Format": definition["Format"],
            "S3Url": definition["S3Url"],
            "Size": len(members),
            "ExternalId": definition.get("ExternalId") or job["Id"],
            "RoleArn": definition["RoleArn"],
            "ChannelCounts": channels,
        }
        stamp = now_iso()
        if definition.get("SegmentId"):
            segment = self._segment(app_id, definition["SegmentId"])
            segment.update(Version=segment["Version"] + 1, LastModifiedDate=stamp)
            if definition.get("SegmentName"):
                segment["Name"] = definition["SegmentName"]
        else:
            segment_id = _new_id()
            segment = {
                "ApplicationId": app_id,
                "Id": segment_id,
                "Arn": f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/{app_id}/segments/{segment_id}",
                "CreationDate": stamp,
                "LastModifiedDate": stamp,
                "Name": definition.get("SegmentName") or f"Import {job['Id']}",
                "SegmentType": "IMPORT",
                "Version": 1,
            }
            definition["SegmentId"] = segment_id
            definition.setdefault("SegmentName", segment["Name"])
        segment["ImportDefinition"] = import_definition
        self._save_segment(app_id, segment, members)

    def op_CreateExportJob(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        app_id = params["ApplicationId"]
        self._check_url(body["S3UrlPrefix"], "S3UrlPrefix")
        self._check_role(body["RoleArn"])
        if body.get("SegmentId"):
            segment = self._segment(app_id, body["SegmentId"])
            if segment["SegmentType"] != "IMPORT":
                raise bad_request("The sandbox exports imported segments only (dimensions are not evaluated)")
        return self._create_job("export_jobs", "EXPORT", app_id, body)

    def op_GetExportJob(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        row = self._job("export_jobs", params["ApplicationId"], params["JobId"])
        return self._advance("export_jobs", row, by_call=True)

    def op_GetExportJobs(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        return _page(self._jobs("export_jobs", params["ApplicationId"]), params)

    def _run_export(self, job: dict[str, Any]) -> dict[str, Any]:
        app_id, definition = job["ApplicationId"], job["Definition"]
        rows = self.conn.execute(
            "select endpoint_id, body from endpoints where app_id = ? order by endpoint_id", (app_id,)
        ).fetchall()
        endpoints = [json.loads(r["body"]) for r in rows]
        if definition.get("SegmentId"):
            segment_id = definition["SegmentId"]
            version = definition.get("SegmentVersion") or self._segment(app_id, segment_id)["Version"]
            member_rows = self.conn.execute(
                "select endpoint_id from segment_members where app_id = ? and segment_id = ? and version = ?",
                (app_id, segment_id, version),
            )
            wanted = {r["endpoint_id"] for r in member_rows}
            endpoints = [e for e in endpoints if e["Id"] in wanted]
        chunks = [
            endpoints[i : i + EXPORT_LINES_PER_FILE] for i in range(0, len(endpoints), EXPORT_LINES_PER_FILE)
        ] or [[]]
        try:
            for number, chunk in enumerate(chunks):
                data = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in chunk).encode()
                _write_object(definition["S3UrlPrefix"], f"{job['Id']}/part-{number:05d}.json", data)
        except Exception as exc:  # an unwritable destination fails the job
            return self._fail(job, len(chunks), [f"Could not write to {definition['S3UrlPrefix']}: {exc}"])
        job.update(
            JobStatus="COMPLETED",
            CompletionDate=now_iso(),
            TotalPieces=len(chunks),
            CompletedPieces=len(chunks),
            FailedPieces=0,
            TotalProcessed=len(endpoints),
            TotalFailures=0,
        )
        return job


def _write_object(prefix: str, name: str, data: bytes) -> None:
    """Write `data` at `<prefix>/<name>` on file:// or s3://."""
    parsed = urlparse(prefix)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path)) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    client = s3_client()
    key = "/".join(p for p in (parsed.path.strip("/"), name) if p)
    client.put_object(Bucket=parsed.netloc, Key=key, Body=data)
