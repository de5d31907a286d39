"""The sandbox HTTP server: Pinpoint's REST API subset over stdlib `ThreadingHTTPServer`.

A request is routed with botocore's model (method + requestUri), then, in this order: injected faults
(latency, 429 throttling, 5xx), the 7 MB payload limit (413 PayloadTooLargeException), JSON parsing and
validation of the body against the operation's input shape (400 BadRequestException), and finally the
operation itself (see `backend.py`). Every Pinpoint request is logged (SQLite `request_log` and the
`engagement_warehouse.sandbox` logger) with its operation, HTTP status, item count and error code.

A control API that is not part of Pinpoint lives under `/_sandbox/` and is not logged:
- `GET /_sandbox/health`;
- `GET|POST /_sandbox/faults` (body: `FaultConfig` fields as JSON; POST replaces the whole config);
- `POST /_sandbox/reset` (deletes all state and clears faults);
- `POST /_sandbox/settings` (`{"max_concurrent_import_jobs": 2, "job_step_seconds": null}`).

The server only binds loopback addresses: it has no authentication and accepts any credentials.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from engagement_warehouse.sandbox.backend import PinpointBackend
from engagement_warehouse.sandbox.faults import FaultConfig, FaultInjector
from engagement_warehouse.sandbox.model import ApiError, Router, bad_request, payload_shape, validate_shape
from engagement_warehouse.sandbox.store import SandboxStore, connect

log = logging.getLogger("engagement_warehouse.sandbox")

MAX_PAYLOAD_BYTES = 7 * 1024 * 1024
_READ_CHUNK = 1024 * 1024


def check_loopback(host: str) -> str:
    """Return `host` if it is a loopback address (or "localhost"), else raise ValueError."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"--host must be a loopback IP address, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"The sandbox listens on loopback addresses only, not {host!r}")
    return host


class SandboxApp:
    """Request handling shared by every connection: routing, faults, validation, logging."""

    def __init__(
        self,
        db_path: str | Path,
        faults: FaultConfig | dict[str, Any] | None = None,
        max_concurrent_import_jobs: int = 2,
        job_step_seconds: float | None = None,
    ) -> None:
        if isinstance(faults, dict):
            faults = FaultConfig.from_dict(faults)
        self.conn = connect(db_path)
        self.faults = FaultInjector(faults)
        self.backend = PinpointBackend(self.conn, self.faults, max_concurrent_import_jobs, job_step_seconds)
        self.router = Router()

    def close(self) -> None:
        """Close the database connection."""
        with self.backend.lock:
            self.conn.close()

    def _log(
        self,
        operation: str,
        method: str,
        path: str,
        app_id: str | None,
        status: int,
        items: int | None,
        code: str | None,
    ) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self.backend.lock:
            self.conn.execute(
                "insert into request_log (ts, operation, method, path, app_id, status, item_count,"
                " error_code) values (?, ?, ?, ?, ?, ?, ?, ?)",
                (stamp, operation, method, path, app_id, status, items, code),
            )
            self.conn.commit()
        log.info("%s %s -> %d items=%s%s", operation, path, status, items, f" error={code}" if code else "")

    def handle(self, method: str, target: str, body: bytes, too_large: bool) -> tuple[int, dict[str, str], bytes]:
        """Answer one HTTP request: (status, headers, body)."""
        split = urlsplit(target)
        if split.path.startswith("/_sandbox/"):
            return self._control(method, split.path, body)
        request_id = str(uuid.uuid4())
        operation, app_id, items = "Unknown", None, None
        try:
            match = self.router.match(method, split.path)
            if match is None:
                raise ApiError(404, "NotFoundException", f"No Pinpoint operation at {method} {split.path}")
            operation = match.operation.name
            app_id = match.params.get("ApplicationId")
            self.faults.before(operation)
            if too_large:
                raise ApiError(413, "PayloadTooLargeException", f"Request body exceeds {MAX_PAYLOAD_BYTES} bytes")
            params = dict(match.params)
            query = parse_qs(split.query)
            for member, shape in match.operation.input_shape.members.items():
                if shape.serialization.get("location") == "querystring":
                    values = query.get(shape.serialization["name"])
                    if values:
                        params[member] = values[0]
            payload: Any = None
            binding = payload_shape(match.operation)
            if binding is not None:
                member, shape = binding
                try:
                    payload = json.loads(body or b"{}")
                except ValueError as exc:
                    raise bad_request(f"Request body is not valid JSON: {exc}") from None
                if operation == "UpdateEndpointsBatch" and isinstance(payload, dict):
                    batch = payload.get("Item")
                    items = len(batch) if isinstance(batch, list) else None
                errors = validate_shape(payload, shape, member)
                if errors:
                    raise bad_request("; ".join(errors[:10]))
            result = self.backend.handle(operation, params, payload)
            status = int(match.operation.http.get("responseCode", 200))
            code = None
            out = json.dumps(result).encode()
            headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
        except ApiError as exc:
            status, code = exc.status, exc.code
            out = json.dumps({"Message": exc.message, "RequestID": request_id}).encode()
            headers = {
                "Content-Type": "application/json",
                "x-amzn-RequestId": request_id,
                "x-amzn-ErrorType": exc.code,
            }
        except Exception:
            log.exception("%s failed", operation)
            status, code = 500, "InternalServerErrorException"
            out = json.dumps({"Message": "Internal server error", "RequestID": request_id}).encode()
            headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
        self.faults.after(operation, status)
        self._log(operation, method, split.path, app_id, status, items, code)
        return status, headers, out

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        def reply(status: int, data: Any) -> tuple[int, dict[str, str], bytes]:
            return status, {"Content-Type": "application/json"}, json.dumps(data).encode()

        try:
            data = json.loads(body) if body.strip() else {}
            if path == "/_sandbox/health" and method == "GET":
                return reply(200, {"ok": True})
            if path == "/_sandbox/faults" and method == "GET":
                return reply(200, self.faults.config.to_dict())
            if path == "/_sandbox/faults" and method == "POST":
                self.faults.configure(FaultConfig.from_dict(data))
                return reply(200, self.faults.config.to_dict())
            if path == "/_sandbox/reset" and method == "POST":
                self.backend.reset()
                self.faults.configure(FaultConfig())
                return reply(200, {"reset": True})
            if path == "/_sandbox/settings" and method == "POST":
                unknown = set(data) - {"max_concurrent_import_jobs", "job_step_seconds"}
                if unknown:
                    raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
                with self.backend.lock:
                    if "max_concurrent_import_jobs" in data:
                        self.backend.max_concurrent_import_jobs = int(data["max_concurrent_import_jobs"])
                    if "job_step_seconds" in data:
                        step = data["job_step_seconds"]
                        self.backend.job_step_seconds = None if step is None else float(step)
                return reply(
                    200,
                    {
                        "max_concurrent_import_jobs": self.backend.max_concurrent_import_jobs,
                        "job_step_seconds": self.backend.job_step_seconds,
                    },
                )
        except (ValueError, TypeError) as exc:
            return reply(400, {"Message": str(exc)})
        return reply(404, {"Message": f"No sandbox control at {method} {path}"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    server: _Server

    def setup(self) -> None:
        """Disable Nagle: headers and body go out in two writes, which would wait on delayed ACKs."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, open_=False)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        too_large = length > MAX_PAYLOAD_BYTES
        if too_large:
            remaining = length
            while remaining > 0:  # drain, so that the client reads our answer instead of a broken pipe
                chunk = self.rfile.read(min(_READ_CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
            body = b""
        else:
            body = self.rfile.read(length) if length else b""
        status, headers, out = self.server.app.handle(self.command, self.path, body, too_large)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib access log: requests are logged by `SandboxApp`."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, app: SandboxApp) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((host, port), _Handler)

    def track(self, connection: socket.socket, open_: bool) -> None:
        """Remember open client connections so that `close_connections` can end keep-alive ones."""
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down every open client connection (their handler threads then exit)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SandboxServer:
    """The sandbox in a background thread; a context manager that stops it on exit.

    >>> with SandboxServer("/tmp/sandbox.db") as sandbox:
    ...     client = boto3.client("pinpoint", endpoint_url=sandbox.endpoint_url, ...)
    """

    def __init__(
        self,
        db_path: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultConfig | dict[str, Any] | None = None,
        *,
        max_concurrent_import_jobs: int = 2,
        job_step_seconds: float | None = None,
        allow_non_loopback: bool = False,
    ) -> None:
        self.db_path = Path(db_path)
        # Loopback only, unless the caller opts in (compose's private network): the sandbox has no auth.
        self.host = host if allow_non_loopback else check_loopback(host)
        self.port = port
        self.app = SandboxApp(db_path, faults, max_concurrent_import_jobs, job_step_seconds)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        """Base URL for `boto3.client("pinpoint", endpoint_url=...)`."""
        if self._server is None:
            raise RuntimeError("The sandbox is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.server_address[1]}"

    @property
    def store(self) -> SandboxStore:
        """Read helpers over this server's database."""
        return SandboxStore(self.db_path)

    def set_faults(self, faults: FaultConfig | dict[str, Any]) -> None:
        """Replace the fault configuration (as `POST /_sandbox/faults` does)."""
        self.app.faults.configure(FaultConfig.from_dict(faults) if isinstance(faults, dict) else faults)

    def reset(self) -> None:
        """Delete all state and clear faults (as `POST /_sandbox/reset` does)."""
        self.app.backend.reset()
        self.app.faults.configure(FaultConfig())

    def start(self) -> SandboxServer:
        """Bind and serve in a daemon thread."""
        self._server = _Server(self.host, self.port, self.app)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="pinpoint-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Bind and serve in the calling thread until interrupted (used by the CLI)."""
        self._server = _Server(self.host, self.port, self.app)
        log.info("Pinpoint sandbox on %s (db %s)", self.endpoint_url, self.db_path)
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()
            self.app.close()

    def stop(self) -> None:
        """Stop serving, close the socket and the database."""
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._thread.join(timeout=5)
            self.app.close()
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
