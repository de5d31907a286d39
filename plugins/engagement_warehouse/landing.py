"""The landing engine, one for every source: discover -> parse -> validate -> dedupe -> write -> ledger -> manifest.

Exactly once:
- A ledger in the lake (`ledger/landing/<source>/`) records each landed raw object by key, size and ETag (mtime
  for local files). Discovery skips objects the ledger holds, so the same object is never landed twice.
- Each raw object lands into its own staged file whose name derives from its key and ETag. A crash after the
  staged write and before the ledger write is repaired by the rerun, which rewrites the same file.
- Rows are deduplicated on the source's key within the run and against the staged rows of neighbouring days
  (duplicates that Firehose delivers in another object).

Nothing is lost: every record read is staged, counted as a duplicate, or quarantined with a reason code, and
the manifest states `rows_in = rows_staged + duplicates + quarantined` for every run.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from engagement_warehouse.lake import Lake, LakeObject
from engagement_warehouse.sources.base import ObjectContext, Source
from engagement_warehouse.sources.readers import QUARANTINE_TEXT_LIMIT, ObjectError, RowError

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
    return hashlib.sha256(f"{obj.key}\0{obj.etag}".encode()).hexdigest()[:24]


def _partition_folder(source: Source, partition_at: datetime) -> str:
    folder = f"dt={partition_at:%Y-%m-%d}"
    return f"{folder}/hour={partition_at:%H}" if source.partitioning == "hour" else folder


class LandingEngine:
    """Lands one source from `raw/` into `staged/` and `quarantine/`, exactly once."""

    def __init__(self, lake: Lake, source: Source, *, dedupe_lookback_days: int = 2) -> None:
        self.lake = lake
        self.source = source
        self.dedupe_lookback = timedelta(days=dedupe_lookback_days)

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

    def staged_keys(self, partitions: Iterable[datetime], exclude: set[str]) -> set[str]:
        """Dedupe keys already staged in the days around `partitions`, ignoring the staged files in `exclude`."""
        key_column = self.source.dedupe_key
        if key_column is None or not self.source.dedupe_across_objects:
            return set()
        days: set[date] = set()
        for partition_at in partitions:
            day = (partition_at - self.dedupe_lookback).date()
            while day <= (partition_at + self.dedupe_lookback).date():
                days.add(day)
                day += timedelta(days=1)
        paths = []
        for day in sorted(days):
            for obj in self.lake.list_objects(f"staged/{self.source.name}/dt={day:%Y-%m-%d}/"):
                if obj.key.endswith(".parquet") and obj.key not in exclude:
                    paths.append(self.lake.path(obj.key))
        if not paths:
            return set()
        dataset = pads.dataset(paths, format="parquet", filesystem=self.lake.arrow_filesystem())
        return set(dataset.to_table(columns=[key_column]).column(key_column).to_pylist())

    # ---- one object -----------------------------------------------------------------------------------------

    def land_object(self, obj: LakeObject, partition_at: datetime | None, seen_keys: set[str]) -> ObjectResult:
        object_id = _object_id(obj)
        if partition_at is None:
            result = ObjectResult(obj.key, obj.size, obj.etag, "refused", None)
            self._quarantine(
                object_id,
                datetime(1970, 1, 1),
                [(obj.key, 0, "unexpected_path", f"not under {self.source.raw_prefix}YYYY/MM/DD/", "")],
            )
            result.quarantined["unexpected_path"] += 1
            return result
        folder = _partition_folder(self.source, partition_at)
        staged_key = f"staged/{self.source.name}/{folder}/part-{object_id}.parquet"
        result = ObjectResult(obj.key, obj.size, obj.etag, "landed", staged_key)
        context = ObjectContext(key=obj.key, partition_at=partition_at)
        rows: list[dict[str, Any]] = []
        refused: list[tuple[str, int, str, str, str]] = []
        object_keys: set[str] = set()
        key_column = self.source.dedupe_key
        try:
            with self.lake.open(obj.key) as handle:
                for raw in self.source.read(handle, context):
                    result.rows_in += 1
                    if raw.error is not None:
                        refused.append((obj.key, raw.number, raw.error.reason, raw.error.detail, raw.text))
                        continue
                    try:
                        row = self.source.to_row(raw.record or {}, context)
                    except RowError as error:
                        refused.append((obj.key, raw.number, error.reason, error.detail, raw.text))
                        continue
                    if key_column is not None:
                        key = row[key_column]
                        if key in object_keys or (self.source.dedupe_across_objects and key in seen_keys):
                            result.duplicates += 1
                            continue
                        object_keys.add(key)
                    row["source_key"] = obj.key
                    row["source_line"] = raw.number
                    row["arrival_hour"] = partition_at
                    rows.append(row)
        except ObjectError as error:
            return self._refuse_object(obj, object_id, partition_at, error)
        except RowError as error:  # an object-level read failure such as an undecodable CSV
            return self._refuse_object(obj, object_id, partition_at, ObjectError(error.reason, error.detail))
        seen_keys.update(object_keys)
        result.rows_staged = len(rows)
        for _key, _number, reason, _detail, _text in refused:
            result.quarantined[reason] += 1
        self._quarantine(object_id, partition_at, refused)
        if rows:
            self._write_staged(staged_key, rows)
        else:
            self.lake.remove_prefix(staged_key)
            result.outcome = "empty"
            result.staged_key = None
        return result

    def _refuse_object(
        self, obj: LakeObject, object_id: str, partition_at: datetime, error: ObjectError
    ) -> ObjectResult:
        """Quarantine every line of the object with the object-level reason; stage nothing from it."""
        result = ObjectResult(obj.key, obj.size, obj.etag, "refused", None)
        text = self.lake.read_bytes(obj.key).decode("utf-8", "replace")
        lines = [line for line in text.splitlines() if line.strip()]
        body = lines[1:] if obj.key.endswith(".csv") else lines  # a CSV's header is not a row
        refused = [(obj.key, number, error.reason, error.detail, line) for number, line in enumerate(body, 1)]
        if not refused:
            refused = [(obj.key, 0, error.reason, error.detail, "")]
        result.rows_in = len(refused)
        result.quarantined[error.reason] = len(refused)
        self._quarantine(object_id, partition_at, refused)
        self.lake.remove_prefix(
            f"staged/{self.source.name}/{_partition_folder(self.source, partition_at)}/part-{object_id}.parquet"
        )
        log.warning("%s: refused the whole object (%s): %s", obj.key, error.reason, error.detail)
        return result

    def _write_staged(self, staged_key: str, rows: list[dict[str, Any]]) -> None:
        table = pa.Table.from_pylist(rows, schema=self.source.schema)
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
        seen_keys = self.staged_keys((at for _, at in pending if at is not None), exclude=own_files)
        results: list[ObjectResult] = []
        for index, (obj, partition_at) in enumerate(pending, 1):
            result = self.land_object(obj, partition_at, seen_keys)
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
    lake: Lake, source: Source, *, run_id: str, logical_date: date, until: datetime | None
) -> LandingManifest:
    """Land one source (the entry point the ingest DAGs call)."""
    return LandingEngine(lake, source).run(run_id=run_id, logical_date=logical_date, until=until)
