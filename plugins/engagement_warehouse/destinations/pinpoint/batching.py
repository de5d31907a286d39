"""Request batching (item count and byte limits) and a client-side rate limiter.

UpdateEndpointsBatch takes at most 100 items and 7 MB per request and is throttled at 2 requests/s by
default (429 TooManyRequests, no Retry-After). Pacing requests client-side keeps us under the quota;
botocore's adaptive retry mode handles the throttles that still happen. Neither is a home-made retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

MAX_ITEMS_PER_REQUEST = 100
MAX_REQUEST_BYTES = 7 * 1024 * 1024
_ENVELOPE_BYTES = len('{"Item":[]}')


def iter_batches(
    items: Iterable[T],
    size_of: Callable[[T], int],
    max_items: int = MAX_ITEMS_PER_REQUEST,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> Iterator[list[T]]:
    """Group `items` into lists of at most `max_items` whose request body stays within `max_bytes`.

    The body size is the JSON envelope plus each item's serialized size plus one separator per item.
    An item that alone exceeds `max_bytes` is yielded on its own; callers must refuse it (see
    `PinpointDestination`), never send it.
    """
    if max_items < 1 or max_bytes < 1:
        raise ValueError("max_items and max_bytes must be positive")
    batch: list[T] = []
    batch_bytes = _ENVELOPE_BYTES
    for item in items:
        size = size_of(item) + 1
        if batch and (len(batch) >= max_items or batch_bytes + size > max_bytes):
            yield batch
            batch, batch_bytes = [], _ENVELOPE_BYTES
        batch.append(item)
        batch_bytes += size
    if batch:
        yield batch


def request_bytes(sizes: Iterable[int]) -> int:
    """The body size of a request holding items of the given serialized sizes."""
    return _ENVELOPE_BYTES + sum(size + 1 for size in sizes)


class RateLimiter:
    """Spaces calls at least `1 / rate_per_second` seconds apart (a leaky bucket of size one).

    `clock` and `sleep` are injectable so tests run instantly.
    """

    def __init__(
        self,
        rate_per_second: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.interval = 1.0 / rate_per_second
        self._clock = clock
        self._sleep = sleep
        self._next_at: float | None = None
        self.waited_seconds = 0.0

    def acquire(self) -> float:
        """Block until the next call is allowed; return the seconds waited."""
        now = self._clock()
        wait = 0.0
        if self._next_at is not None and now < self._next_at:
            wait = self._next_at - now
            self._sleep(wait)
            now = self._next_at
        self._next_at = now + self.interval
        self.waited_seconds += wait
        return wait
