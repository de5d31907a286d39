"""Fault injection for the sandbox: throttling, 5xx errors, latency, failed import jobs, crashes.

A `FaultConfig` is plain data (it round-trips through JSON for `POST /_sandbox/faults`); a
`FaultInjector` holds the mutable part (token buckets, the seeded random generator, counters) and
decides, per request, whether to answer with an injected error before the real handler runs.

Order of checks for one request: latency, throttling (429 TooManyRequestsException, no Retry-After
header, as Pinpoint), burst of consecutive 5xx, random 5xx, then the "fail UpdateEndpointsBatch after
k successful calls" crash simulation. Import-job outcome faults are read by the job engine.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from engagement_warehouse.sandbox.model import ApiError

ImportOutcome = Literal["normal", "failed", "completed_with_failures"]
_ERROR_CODES = {
    500: "InternalServerErrorException",
    502: "BadGatewayException",
    503: "ServiceUnavailableException",
    504: "GatewayTimeoutException",
}


@dataclass
class FaultConfig:
    """What to break. Every field defaults to "no fault".

    - `throttle`: requests per second allowed per operation name (key "*" = every operation without
      its own entry), enforced with one token bucket per operation, capacity `throttle_burst`
      (default: max(1, rate)).
    - `error_rate` / `seed`: probability of a random 5xx per request, from a seeded generator.
    - `error_burst`: the next N requests answer `error_status` (500 by default), then it stops.
    - `latency_ms`: added to every request before it is handled.
    - `operations`: restricts latency and 5xx faults to these operation names (None = all).
    - `fail_batches_after`: after k successful UpdateEndpointsBatch calls, further ones answer 500
      (a crash between batches); `fail_batches_count` limits how many fail (None = all that follow).
    - `import_outcome`: "failed" makes import jobs end FAILED and apply nothing;
      "completed_with_failures" makes the first `import_failed_rows` rows of each job fail.
    """

    throttle: dict[str, float] = field(default_factory=dict)
    throttle_burst: float | None = None
    error_rate: float = 0.0
    seed: int | None = None
    error_burst: int = 0
    error_status: int = 500
    latency_ms: float = 0.0
    operations: list[str] | None = None
    fail_batches_after: int | None = None
    fail_batches_count: int | None = None
    import_outcome: ImportOutcome = "normal"
    import_failed_rows: int = 1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultConfig:
        """Build from JSON data; unknown keys and bad values raise ValueError."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        config = cls(**data)
        if not 0.0 <= config.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if config.error_status not in _ERROR_CODES:
            raise ValueError(f"error_status must be one of {sorted(_ERROR_CODES)}")
        if config.import_outcome not in ("normal", "failed", "completed_with_failures"):
            raise ValueError("import_outcome must be normal, failed or completed_with_failures")
        if any(rate <= 0 for rate in config.throttle.values()):
            raise ValueError("throttle rates must be positive")
        return config

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class _Bucket:
    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class FaultInjector:
    """The live state of one `FaultConfig` (thread-safe)."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration and reset buckets, counters and the random generator."""
        with self._lock:
            self.config = config
            self._buckets: dict[str, _Bucket] = {}
            self._rng = random.Random(config.seed)
            self._burst_left = config.error_burst
            self._batches_ok = 0
            self._batches_failed = 0

    def _applies(self, operation: str) -> bool:
        ops = self.config.operations
        return ops is None or operation in ops

    def before(self, operation: str) -> None:
        """Sleep and/or raise the injected error for this request, if any."""
        config = self.config
        if config.latency_ms and self._applies(operation):
            time.sleep(config.latency_ms / 1000.0)
        with self._lock:
            rate = config.throttle.get(operation, config.throttle.get("*"))
            if rate:
                bucket = self._buckets.get(operation)
                if bucket is None:
                    capacity = config.throttle_burst or max(1.0, rate)
                    bucket = self._buckets[operation] = _Bucket(rate, capacity)
                if not bucket.take():
                    raise ApiError(429, "TooManyRequestsException", "Too many requests")
            if self._applies(operation):
                if self._burst_left > 0:
                    self._burst_left -= 1
                    raise self._server_error("Injected burst error")
                if config.error_rate and self._rng.random() < config.error_rate:
                    raise self._server_error("Injected random error")
            if operation == "UpdateEndpointsBatch" and config.fail_batches_after is not None:
                limit = config.fail_batches_count
                if self._batches_ok >= config.fail_batches_after and (limit is None or self._batches_failed < limit):
                    self._batches_failed += 1
                    raise ApiError(500, "InternalServerErrorException", "Injected failure after k batches")

    def after(self, operation: str, status: int) -> None:
        """Record the outcome of a handled request (counts successful batches)."""
        if operation == "UpdateEndpointsBatch" and status < 300:
            with self._lock:
                self._batches_ok += 1

    def _server_error(self, message: str) -> ApiError:
        status = self.config.error_status
        return ApiError(status, _ERROR_CODES[status], message)
