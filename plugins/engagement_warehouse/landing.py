"""The landing engine, one for every source: discover -> parse -> validate -> dedupe -> write -> ledger -> manifest.

Exactly once:
- A ledger in the lake (`ledger/landing/<source>/`) records each landed raw object by key, size and ETag (mtime
  for local files). Discovery skips objects the ledger holds, so the same object is never landed twice.
- Each raw object lands into its own staged (and quarantine) file whose name derives from its key alone. A crash
  after the staged write and before the ledger write is repaired by the rerun, which rewrites the same file. An
  object rewritten under the same key (new ETag, or new mtime on a local lake) lands again and *replaces* its
  staged file: the lake holds the latest version of each key, never two. A local file that is only touched
  (same bytes, new mtime) is therefore re-read and rewrites a byte-identical staged file: a wasted read, never a
  duplicate row, whatever the source's dedupe rule. (Hashing every local file's content at discovery would
  re-read the whole raw history on every run; the mtime is the cheap change signal, as the ETag is on S3.)
- Rows are deduplicated on the source's key within the object and, for sources that dedupe across objects,
  against the rows staged or landed in the days around the object's partition (`DedupeWindow`: duplicates
  that Firehose delivers in another object or a later hour).

Nothing is lost: every record read is staged, counted as a duplicate, or quarantined with a reason code, and
the manifest states `rows_in = rows_staged + duplicates + quarantined` for every run.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import itertools
import json
import logging
import multiprocessing
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from engagement_warehouse.lake import Lake, LakeObject
from engagement_warehouse.sources.base import ObjectContext, Source
from engagement_warehouse.sources.readers import (
    GZIP_MAGIC,
    MAX_FIELD_BYTES,
    QUARANTINE_TEXT_LIMIT,
    ObjectError,
    RowError,
    check_field_sizes,
)

log = logging.getLogger(__name__)

LEDGER_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("etag", pa.string(), nullable=False),
        pa.field("outcome", pa.string(), nullable=False),  # landed | empty | refused
        pa.field("staged_key", pa.string()),
        pa.field("rows_in", pa.int64(), nullable=False),
        pa.field("rows_staged", pa.int64(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)


@dataclass
class ObjectResult:
    """What landing one raw object did."""

    key: str
    size: int
    etag: str
    outcome: str
    staged_key: str | None
    rows_in: int = 0
    rows_staged: int = 0
    duplicates: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)


Refusal = tuple[str, int, str, str, str]  # (object key, line number, reason code, detail, original text)


@dataclass
class ParsedObject:
    """One raw object read and validated, before cross-object dedupe. Picklable: it crosses process boundaries."""

    obj: LakeObject
    partition_at: datetime | None
    rows_in: int = 0
    duplicates: int = 0  # within the object
    table: pa.Table | None = None  # valid rows (source schema), unique by key within the object, in object order
    refused: list[Refusal] = field(default_factory=list)
    error: tuple[str, str] | None = None  # (reason, detail) when the whole object is refused


def parse_object(lake: Lake, source: Source, obj: LakeObject, partition_at: datetime | None) -> ParsedObject:
    """Read one raw object, validate every record against the source contract and dedupe it within the object.

    Holds one object's rows at most. Pure apart from reading the object, so it may run in a worker process.
    """
    parsed = ParsedObject(obj, partition_at)
    if partition_at is None:
        layout = "YYYY/MM/DD/HH/" if source.partitioning == "hour" else "YYYY/MM/DD/"
        parsed.error = ("unexpected_path", f"not under {source.raw_prefix}{layout}")
        return parsed
    context = ObjectContext(key=obj.key, partition_at=partition_at)
    rows: list[dict[str, Any]] = []
    object_keys: set[str] = set()
    key_column = source.dedupe_key
    to_row = source.to_row
    refused = parsed.refused
    try:
        with lake.open(obj.key) as handle:
            for raw in source.read(handle, context):
                parsed.rows_in += 1
                if raw.error is not None:
                    refused.append((obj.key, raw.number, raw.error.reason, raw.error.detail, raw.text))
                    continue
                try:
                    row = to_row(raw.record or {}, context)
                    if len(raw.text) * 4 > MAX_FIELD_BYTES:  # only a long record can hold a too-long field
                        check_field_sizes(row)
                except RowError as error:
                    refused.append((obj.key, raw.number, error.reason, error.detail, raw.text))
                    continue
                if key_column is not None:
                    key = row[key_column]
                    if key in object_keys:
                        parsed.duplicates += 1
                        continue
                    object_keys.add(key)
                row["source_key"] = obj.key
                row["source_line"] = raw.number
                row["arrival_hour"] = partition_at
                rows.append(row)
    except RowError as error:  # ObjectError, or an object-level read failure such as an undecodable CSV
        return ParsedObject(obj, partition_at, error=(error.reason, error.detail))
    if rows:
        parsed.table = pa.Table.from_pylist(rows, schema=source.schema)
    return parsed


@dataclass
class LandingManifest:
    """Counts for one landing run of one source. `rows_in == rows_staged + duplicates + quarantined`."""

    source: str
    run_id: str
    logical_date: str
    until: str | None
    objects_seen: int = 0
    objects_already_landed: int = 0
    objects_placeholder: int = 0
    objects_read: int = 0
    objects_empty: int = 0
    objects_refused: int = 0
    rows_in: int = 0
    rows_staged: int = 0
    duplicates: int = 0
    quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    staged_partitions: list[str] = field(default_factory=list)

    @property
    def counts_add_up(self) -> bool:
        return self.rows_in == self.rows_staged + self.duplicates + self.quarantined

    def add(self, result: ObjectResult) -> None:
        self.objects_read += 1
        self.objects_empty += result.outcome == "empty"
        self.objects_refused += result.outcome == "refused"
        self.rows_in += result.rows_in
        self.rows_staged += result.rows_staged
        self.duplicates += result.duplicates
        for reason, count in result.quarantined.items():
            self.quarantined += count
            self.quarantined_by_reason[reason] = self.quarantined_by_reason.get(reason, 0) + count

    def to_json(self) -> str:
        payload = asdict(self)
        payload["counts_add_up"] = self.counts_add_up
        return json.dumps(payload, indent=2, sort_keys=True)


def _object_id(obj: LakeObject) -> str:
    """The id naming an object's staged and quarantine files: from the key only, so a rewrite replaces them."""
    return hashlib.sha256(obj.key.encode()).hexdigest()[:24]


def _partition_folder(source: Source, partition_at: datetime) -> str:
    folder = f"dt={partition_at:%Y-%m-%d}"
    return f"{folder}/hour={partition_at:%H}" if source.partitioning == "hour" else folder


class DedupeWindow:
    """The keys a row is deduplicated against: staged by earlier runs, or landed earlier in this run, in the days
    within `lookback` of the partition being landed.

    Objects land in key order, which is partition order, so the window only slides forward: days that fall
    behind it are dropped, days ahead of it are loaded from `staged/` when first needed. Memory holds about
    `2 * lookback + 1` days of keys however many days one run lands (a backfill included), and a backfill in one
    run dedupes exactly as day-by-day runs do.
    """

    def __init__(self, load_day: Callable[[date], set[str]], lookback: timedelta) -> None:
        self.load_day = load_day
        self.lookback = lookback
        self.keys: set[str] = set()  # the union of the days below
        self.days: dict[date, set[str]] = {}

    def at(self, partition_at: datetime) -> set[str]:
        """Slide the window to `partition_at` and return the keys it holds (do not modify the result)."""
        first, last = (partition_at - self.lookback).date(), (partition_at + self.lookback).date()
        for day in [day for day in self.days if day < first]:
            dropped = self.days.pop(day)
            self.keys -= dropped
            for kept in self.days.values():  # a key staged on two days stays while one of them is in the window
                self.keys |= kept & dropped
        day = first
        while day <= last:
            if day not in self.days:
                self.days[day] = self.load_day(day)
                self.keys |= self.days[day]
            day += timedelta(days=1)
        return self.keys

    def add(self, partition_at: datetime, keys: Iterable[str]) -> None:
        """Record keys just landed in `partition_at`'s day (call `at(partition_at)` first)."""
        keys = list(keys)
        self.days.setdefault(partition_at.date(), set()).update(keys)
        self.keys.update(keys)


class LandingEngine:
    """Lands one source from `raw/` into `staged/` and `quarantine/`, exactly once."""

    def __init__(self, lake: Lake, source: Source, *, dedupe_lookback_days: int = 2, workers: int = 1) -> None:
        self.lake = lake
        self.source = source
        self.dedupe_lookback = timedelta(days=dedupe_lookback_days)
        self.workers = max(1, workers)

    # ---- parsing, in this process or in workers -------------------------------------------------------------

    def parsed_in_order(self, pending: list[tuple[LakeObject, datetime | None]]) -> Iterator[ParsedObject]:
        """`parse_object` for each pending object, yielded in discovery order.

        With `workers > 1`, objects are parsed by that many spawned processes (parsing and validation are
        CPU-bound Python) while this process dedupes and writes in order. At most `2 * workers` parsed objects
        are in flight, so memory stays flat whatever the number of objects. Spawn, not fork: the lake's
        filesystem may hold an event loop thread (s3fs) that a fork would copy mid-state.
        """
        if self.workers == 1 or len(pending) < 2:
            for obj, partition_at in pending:
                yield parse_object(self.lake, self.source, obj, partition_at)
            return
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=context) as pool:
            queue = iter(pending)
            in_flight = deque(
                pool.submit(parse_object, self.lake, self.source, obj, at)
                for obj, at in itertools.islice(queue, 2 * self.workers)
            )
            while in_flight:
                parsed = in_flight.popleft().result()
                following = next(queue, None)
                if following is not None:
                    in_flight.append(pool.submit(parse_object, self.lake, self.source, *following))
                yield parsed

    # ---- ledger ---------------------------------------------------------------------------------------------

    @property
    def ledger_prefix(self) -> str:
        return f"ledger/landing/{self.source.name}/"

    def landed_objects(self) -> set[tuple[str, int, str]]:
        """(key, size, etag) of every object the ledger holds."""
        landed: set[tuple[str, int, str]] = set()
        for obj in self.lake.list_objects(self.ledger_prefix):
            if not obj.key.endswith(".parquet"):
                continue
            with self.lake.open(obj.key) as handle:
                table = pq.read_table(handle, columns=["key", "size", "etag"])
            landed.update(zip(*(table.column(name).to_pylist() for name in ("key", "size", "etag")), strict=True))
        return landed

    # ---- discovery ------------------------------------------------------------------------------------------

    def discover(self, until: datetime | None) -> tuple[list[tuple[LakeObject, datetime | None]], Counter[str]]:
        """Raw objects not yet landed whose partition starts before `until` (None: all of them)."""
        landed = self.landed_objects()
        skipped: Counter[str] = Counter()
        pending: list[tuple[LakeObject, datetime | None]] = []
        for obj in self.lake.list_objects(self.source.raw_prefix):
            skipped["seen"] += 1
            if obj.key.endswith("/"):
                skipped["placeholder"] += 1
                continue
            if (obj.key, obj.size, obj.etag) in landed:
                skipped["already_landed"] += 1
                continue
            partition_at = self.source.partition_of(obj.key)
            if until is not None and partition_at is not None and partition_at >= until:
                skipped["not_due"] += 1
                continue
            pending.append((obj, partition_at))
        return pending, skipped

    # ---- dedupe against what is already staged --------------------------------------------------------------

    def staged_keys(self, day: date, exclude: set[str]) -> set[str]:
        """Dedupe keys already staged in the partitions of `day`, ignoring the staged files in `exclude`."""
        key_column = self.source.dedupe_key
        if key_column is None or not self.source.dedupe_across_objects:
            return set()
        paths = [
            self.lake.path(obj.key)
            for obj in self.lake.list_objects(f"staged/{self.source.name}/dt={day:%Y-%m-%d}/")
            if obj.key.endswith(".parquet") and obj.key not in exclude
        ]
        if not paths:
            return set()
        dataset = pads.dataset(paths, format="parquet", filesystem=self.lake.arrow_filesystem())
        return set(dataset.to_table(columns=[key_column]).column(key_column).to_pylist())

    # ---- one object -----------------------------------------------------------------------------------------

    def land_object(self, obj: LakeObject, partition_at: datetime | None, window: DedupeWindow) -> ObjectResult:
        """Land one raw object: parse and validate it, then dedupe against `window` and write (updating it)."""
        return self.commit_object(parse_object(self.lake, self.source, obj, partition_at), window)

    def commit_object(self, parsed: ParsedObject, window: DedupeWindow) -> ObjectResult:
        """Drop the parsed rows whose key the window holds, write the staged and quarantine files, add the keys.

        This is the sequential half of landing (the cross-object dedupe depends on the order of objects); the
        parsing half (`parse_object`) may run in worker processes.
        """
        obj, partition_at = parsed.obj, parsed.partition_at
        object_id = _object_id(obj)
        if parsed.error is not None or partition_at is None:
            reason, detail = parsed.error or ("unexpected_path", "")
            return self._refuse_object(obj, object_id, partition_at, ObjectError(reason, detail))
        folder = _partition_folder(self.source, partition_at)
        staged_key = f"staged/{self.source.name}/{folder}/part-{object_id}.parquet"
        result = ObjectResult(obj.key, obj.size, obj.etag, "landed", staged_key, parsed.rows_in)
        result.duplicates = parsed.duplicates
        table = parsed.table
        key_column = self.source.dedupe_key
        if key_column is not None and self.source.dedupe_across_objects and table is not None:
            seen_keys = window.at(partition_at)
            keys = table.column(key_column).to_pylist()
            if seen_keys:
                keep = [key not in seen_keys for key in keys]
                dropped = len(keep) - sum(keep)
                if dropped:
                    result.duplicates += dropped
                    table = table.filter(pa.array(keep, pa.bool_()))
                    keys = [key for key, kept in zip(keys, keep, strict=True) if kept]
            window.add(partition_at, keys)
        result.rows_staged = table.num_rows if table is not None else 0
        for _key, _number, reason, _detail, _text in parsed.refused:
            result.quarantined[reason] += 1
        self._quarantine(object_id, partition_at, parsed.refused)
        if table is not None and table.num_rows:
            self._write_staged(staged_key, table)
        else:
            self.lake.remove_prefix(staged_key)
            result.outcome = "empty"
            result.staged_key = None
        return result

    def _refuse_object(
        self, obj: LakeObject, object_id: str, partition_at: datetime | None, error: ObjectError
    ) -> ObjectResult:
        """Quarantine every line of the object with the object-level reason; stage nothing from it.

        Each non-blank line (a CSV's header excepted) counts as one row in and one row quarantined, so the
        counts add up; an object with no readable line counts as one. `partition_at` None (a key outside the
        layout) quarantines under `dt=1970-01-01`.
        """
        result = ObjectResult(obj.key, obj.size, obj.etag, "refused", None)
        data = self.lake.read_bytes(obj.key)
        if data[:2] == GZIP_MAGIC:
            with contextlib.suppress(EOFError, OSError, zlib.error):  # a truncated gzip: quarantine the bytes
                data = gzip.decompress(data)
        lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
        body = lines[1:] if obj.key.endswith(".csv") else lines  # a CSV's header is not a row
        refused = [(obj.key, number, error.reason, error.detail, line) for number, line in enumerate(body, 1)]
        if not refused:
            refused = [(obj.key, 0, error.reason, error.detail, "")]
        result.rows_in = len(refused)
        result.quarantined[error.reason] = len(refused)
        self._quarantine(object_id, partition_at or datetime(1970, 1, 1), refused)
        if partition_at is not None:
            folder = _partition_folder(self.source, partition_at)
            self.lake.remove_prefix(f"staged/{self.source.name}/{folder}/part-{object_id}.parquet")
        log.warning("%s: refused the whole object (%s): %s", obj.key, error.reason, error.detail)
        return result

    def _write_staged(self, staged_key: str, table: pa.Table) -> None:
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        self.lake.write_bytes(staged_key, buffer.getvalue())

    def _quarantine(
        self, object_id: str, partition_at: datetime, refused: list[tuple[str, int, str, str, str]]
    ) -> None:
        key = f"quarantine/{self.source.name}/dt={partition_at:%Y-%m-%d}/part-{object_id}.jsonl"
        if not refused:
            self.lake.remove_prefix(key)
            return
        lines = [
            json.dumps(
                {
                    "source_key": source_key,
                    "line_number": number,
                    "reason": reason,
                    "detail": detail,
                    "original": text[:QUARANTINE_TEXT_LIMIT],
                },
                ensure_ascii=False,
            )
            for source_key, number, reason, detail, text in refused
        ]
        self.lake.write_bytes(key, ("\n".join(lines) + "\n").encode("utf-8"))

    # ---- a run ----------------------------------------------------------------------------------------------

    def run(self, *, run_id: str, logical_date: date, until: datetime | None) -> LandingManifest:
        """Land every raw object not yet landed whose partition starts before `until`."""
        manifest = LandingManifest(
            source=self.source.name,
            run_id=run_id,
            logical_date=logical_date.isoformat(),
            until=until.isoformat() if until else None,
        )
        pending, skipped = self.discover(until)
        manifest.objects_seen = skipped["seen"]
        manifest.objects_already_landed = skipped["already_landed"]
        manifest.objects_placeholder = skipped["placeholder"]
        log.info(
            "%s: %d raw objects, %d already landed, %d to land",
            self.source.name,
            manifest.objects_seen,
            manifest.objects_already_landed,
            len(pending),
        )
        own_files = {
            f"staged/{self.source.name}/{_partition_folder(self.source, at)}/part-{_object_id(obj)}.parquet"
            for obj, at in pending
            if at is not None
        }
        window = DedupeWindow(lambda day: self.staged_keys(day, exclude=own_files), self.dedupe_lookback)
        results: list[ObjectResult] = []
        for index, parsed in enumerate(self.parsed_in_order(pending), 1):
            result = self.commit_object(parsed, window)
            results.append(result)
            manifest.add(result)
            if result.staged_key:
                manifest.staged_partitions.append(result.staged_key.rsplit("/", 1)[0])
            if index % 50 == 0 or index == len(pending):
                log.info(
                    "%s: %d/%d objects, %d rows in, %d staged, %d duplicates, %d quarantined",
                    self.source.name,
                    index,
                    len(pending),
                    manifest.rows_in,
                    manifest.rows_staged,
                    manifest.duplicates,
                    manifest.quarantined,
                )
        manifest.staged_partitions = sorted(set(manifest.staged_partitions))
        if results:
            self._write_ledger(results, run_id)
        safe_run_id = "".join(char if char.isalnum() or char in "-_." else "_" for char in run_id)
        self.lake.write_bytes(
            f"manifests/landing/{self.source.name}/{logical_date.isoformat()}/{safe_run_id}.json",
            manifest.to_json().encode("utf-8"),
        )
        if not manifest.counts_add_up:  # an engine bug, never bad input: fail loudly
            raise RuntimeError(f"{self.source.name}: landing counts do not add up: {manifest.to_json()}")
        return manifest

    def _write_ledger(self, results: list[ObjectResult], run_id: str) -> None:
        table = pa.Table.from_pylist(
            [
                {
                    "key": result.key,
                    "size": result.size,
                    "etag": result.etag,
                    "outcome": result.outcome,
                    "staged_key": result.staged_key,
                    "rows_in": result.rows_in,
                    "rows_staged": result.rows_staged,
                    "run_id": run_id,
                }
                for result in results
            ],
            schema=LEDGER_SCHEMA,
        )
        batch_id = hashlib.sha256("\n".join(f"{r.key}\0{r.etag}" for r in results).encode()).hexdigest()[:24]
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        self.lake.write_bytes(f"{self.ledger_prefix}batch-{batch_id}.parquet", buffer.getvalue())


def land_source(
    lake: Lake, source: Source, *, run_id: str, logical_date: date, until: datetime | None, workers: int = 1
) -> LandingManifest:
    """Land one source (the entry point the ingest DAGs call). `workers > 1` parses objects in that many processes."""
    engine = LandingEngine(lake, source, workers=workers)
    return engine.run(run_id=run_id, logical_date=logical_date, until=until)
