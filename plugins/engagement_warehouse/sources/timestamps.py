"""Timestamp parsing shared by every source: ISO-8601 or epoch seconds/milliseconds, stored as naive UTC."""

from __future__ import annotations

from datetime import UTC, datetime

# Epoch values above this are milliseconds (1e11 seconds is the year 5138; 1e11 ms is 1973).
_EPOCH_MS_THRESHOLD = 100_000_000_000


class TimestampError(ValueError):
    """A value that is not a timestamp in any accepted form."""


def parse_timestamp(value: object, *, epoch_unit: str = "auto") -> datetime:
    """Parse `value` into a naive UTC datetime.

    Accepts datetimes (naive = UTC; Parquet timestamp columns), ISO-8601 strings (with `Z`, an offset, or none =
    UTC), and epoch numbers (int, float or digit strings) in seconds or milliseconds. `epoch_unit="auto"` tells
    them apart by magnitude; "s" or "ms" forces one.
    """
    if value.__class__ is str and value[-1:] == "Z" and value[10:11] == "T":  # fast path: what Segment/JS writes
        try:
            parsed = datetime.fromisoformat(value[:-1])
        except ValueError:
            parsed = None  # not ISO after all: the general path below says why
        if parsed is not None and parsed.tzinfo is None:
            return parsed
    if value is None or isinstance(value, bool):
        raise TimestampError("missing")
    if isinstance(value, datetime):  # a Parquet timestamp column (Firehose record-format conversion)
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
    if isinstance(value, int | float):
        return _from_epoch(float(value), epoch_unit)
    if not isinstance(value, str):
        raise TimestampError(f"not a timestamp: {type(value).__name__}")
    text = value.strip()
    if not text:
        raise TimestampError("empty")
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return _from_epoch(float(text), epoch_unit)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as error:
        raise TimestampError(f"not ISO-8601: {text[:40]!r}") from error
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _from_epoch(number: float, unit: str) -> datetime:
    if unit == "auto":
        unit = "ms" if abs(number) >= _EPOCH_MS_THRESHOLD else "s"
    seconds = number / 1000.0 if unit == "ms" else number
    try:
        return datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError) as error:
        raise TimestampError(f"epoch out of range: {number}") from error
