"""Partner feeds: CSV drops described by a YAML contract each (sources/contracts/<partner>.yml).

A new partner is a new contract file plus its staging model: no Python. The contract names the columns and their
types, the key column, whether the key is the SHA-256 of a normalised email, the encoding and the delimiter.
Raw: `raw/partner/<partner>/YYYY/MM/DD/*.csv`. Dedupe: the key within one file (file date + key).
A plaintext email where a hash is expected quarantines the whole file: it is never hashed silently nor landed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import yaml

from engagement_warehouse.pii import looks_like_plaintext_email
from engagement_warehouse.sources.base import ObjectContext, Source
from engagement_warehouse.sources.readers import ObjectError, RawRecord, RowError, iter_csv_records
from engagement_warehouse.sources.staged_schemas import LINEAGE_FIELDS
from engagement_warehouse.sources.timestamps import TimestampError, parse_timestamp

log = logging.getLogger(__name__)
CONTRACTS_DIR = Path(__file__).parent / "contracts"
SHA256_HEX_LENGTH = 64
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}


@dataclass(frozen=True)
class ColumnContract:
    name: str
    type: str
    required: bool
    description: str


@dataclass(frozen=True)
class PartnerContract:
    partner: str
    description: str
    encoding: str
    delimiter: str
    key: str
    key_is_email_sha256: bool
    columns: tuple[ColumnContract, ...]

    @classmethod
    def load(cls, path: Path) -> PartnerContract:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        columns = tuple(
            ColumnContract(
                name=column["name"],
                type=column["type"],
                required=bool(column.get("required", False)),
                description=column.get("description", ""),
            )
            for column in spec["columns"]
        )
        unknown = [column.type for column in columns if column.type not in ARROW_TYPES]
        if unknown:
            raise ValueError(f"{path.name}: unknown column types {unknown}; use one of {sorted(ARROW_TYPES)}")
        if spec["key"] not in {column.name for column in columns}:
            raise ValueError(f"{path.name}: key {spec['key']!r} is not a declared column")
        return cls(
            partner=spec["partner"],
            description=spec.get("description", ""),
            encoding=spec.get("encoding", "utf-8"),
            delimiter=spec.get("delimiter", ","),
            key=spec["key"],
            key_is_email_sha256=bool(spec.get("key_is_email_sha256", False)),
            columns=columns,
        )


def _convert(value: str, column: ColumnContract) -> Any:
    text = value.strip()
    if text == "":
        if column.required:
            raise RowError("missing_required_field", column.name)
        return None
    try:
        match column.type:
            case "string":
                return text
            case "int64":
                return int(text)
            case "float64":
                return float(text)
            case "bool":
                lowered = text.lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                return lowered in ("true", "1", "yes")
            case "date":
                return date.fromisoformat(text)
            case "timestamp":
                return parse_timestamp(text)
    except (ValueError, TimestampError) as error:
        raise RowError("wrong_type", f"{column.name} is not {column.type}: {text[:40]!r}") from error
    raise AssertionError(column.type)


class PartnerSource(Source):
    """One partner feed, driven entirely by its contract."""

    partitioning = "day"
    dedupe_across_objects = False

    def __init__(self, contract: PartnerContract) -> None:
        self.contract = contract
        self.name = f"partner_{contract.partner}"
        self.table = f"partner_{contract.partner}"
        self.raw_prefix = f"raw/partner/{contract.partner}/"
        self.dedupe_key = contract.key

    @property
    def schema(self) -> pa.Schema:
        fields = [
            pa.field(column.name, ARROW_TYPES[column.type], nullable=not column.required)
            for column in self.contract.columns
        ]
        return pa.schema([*fields, pa.field("file_date", pa.date32(), nullable=False), *LINEAGE_FIELDS])

    def read(self, handle: IO[bytes], context: ObjectContext) -> Iterator[RawRecord]:
        declared = [column.name for column in self.contract.columns]
        required = {column.name for column in self.contract.columns if column.required}
        checked_header = False
        for header, record in iter_csv_records(handle, self.contract.encoding, self.contract.delimiter):
            if not checked_header:
                missing = sorted(required - set(header))
                if missing:
                    raise ObjectError("missing_required_column", f"header lacks {', '.join(missing)}")
                checked_header = True
                unexpected = [name for name in header if name not in declared]
                if unexpected:
                    log.warning("%s: columns not in the contract are ignored: %s", context.key, unexpected)
            if (
                self.contract.key_is_email_sha256
                and record.record is not None
                and looks_like_plaintext_email(record.record.get(self.contract.key, ""))
            ):
                raise ObjectError(
                    "plaintext_email_in_hashed_column",
                    f"column {self.contract.key} must hold SHA-256 hex of the normalised email; "
                    f"line {record.number} holds a plaintext address. Ask the partner to hash it "
                    "(engagement_warehouse.pii.email_sha256) and resend the file.",
                )
            yield record

    def to_row(self, record: dict[str, Any], context: ObjectContext) -> dict[str, Any]:
        row = {column.name: _convert(record.get(column.name, ""), column) for column in self.contract.columns}
        key = row[self.contract.key]
        if key is None:
            raise RowError("missing_required_field", self.contract.key)
        if self.contract.key_is_email_sha256:
            text = str(key).lower()
            if len(text) != SHA256_HEX_LENGTH or any(char not in "0123456789abcdef" for char in text):
                raise RowError("key_not_sha256", f"{self.contract.key} is not 64 hex characters")
            row[self.contract.key] = text
        row["file_date"] = context.partition_at.date()
        return row


def load_partner_sources(contracts_dir: Path = CONTRACTS_DIR) -> list[PartnerSource]:
    """One source per contract file, sorted by partner name."""
    return [PartnerSource(PartnerContract.load(path)) for path in sorted(contracts_dir.glob("*.yml"))]
