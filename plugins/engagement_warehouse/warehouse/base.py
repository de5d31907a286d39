"""The loader interface, and what the SQL targets (Redshift, Athena) share: staged partitions and SQL templates.

Every target makes `raw.<source.table>` show the staged rows of a source, and works per staged partition
(`staged/<source>/dt=YYYY-MM-DD[/hour=HH]/`): the landing run hands the loader the partitions it touched, so a
daily run does not reload the whole history.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from string import Template

from engagement_warehouse.lake import Lake
from engagement_warehouse.settings import REPO_ROOT
from engagement_warehouse.sources.base import Source

SQL_DIR = REPO_ROOT / "include" / "sql"
"""SQL templates, one folder per target (`include/sql/README.md` lists them and their placeholders)."""

_FOLDER = re.compile(r"^dt=(?P<dt>\d{4}-\d{2}-\d{2})(?:/hour=(?P<hour>\d{2}))?$")


class WarehouseLoader(ABC):
    """Makes `raw.<source.table>` show exactly the staged rows of a source (idempotent)."""

    @abstractmethod
    def register(self, lake: Lake, source: Source, partitions: Sequence[str] | None = None) -> int:
        """Register the staged data of `source`; return the table's row count.

        `partitions`: the staged partitions the landing run touched, as the landing manifest lists them
        (`staged/<source>/dt=YYYY-MM-DD[/hour=HH]`, or just `dt=...[/hour=HH]`); None = everything staged.
        A target may reload more than asked (DuckDB rebuilds a table that does not exist yet), never less.
        """


@dataclass(frozen=True, order=True)
class StagedPartition:
    """One staged partition of a source: `staged/<source>/dt=YYYY-MM-DD[/hour=HH]/`."""

    source: str
    day: date
    hour: int | None  # None for day-partitioned sources (Pinpoint endpoints, partners)

    @classmethod
    def parse(cls, source: Source, text: str) -> StagedPartition:
        """Parse a partition folder, with or without its `staged/<source>/` prefix; reject the wrong layout."""
        folder = text.strip("/").removeprefix(f"staged/{source.name}/")
        match = _FOLDER.match(folder)
        if match is None:
            layout = "dt=YYYY-MM-DD/hour=HH" if source.partitioning == "hour" else "dt=YYYY-MM-DD"
            raise ValueError(f"{text!r} is not a staged partition of {source.name} (staged/{source.name}/{layout})")
        hour = match["hour"]
        if (hour is None) != (source.partitioning == "day"):
            raise ValueError(f"{text!r}: {source.name} is partitioned by {source.partitioning}")
        partition = cls(source.name, date.fromisoformat(match["dt"]), None if hour is None else int(hour))
        if partition.hour is not None and partition.hour > 23:
            raise ValueError(f"{text!r}: hour must be 00-23")
        return partition

    @property
    def folder(self) -> str:
        """`dt=YYYY-MM-DD[/hour=HH]`, as landing writes it."""
        folder = f"dt={self.day:%Y-%m-%d}"
        return folder if self.hour is None else f"{folder}/hour={self.hour:02d}"

    @property
    def prefix(self) -> str:
        """The lake key prefix of the partition, ending in `/` (so `hour=01/` never matches `hour=010`)."""
        return f"staged/{self.source}/{self.folder}/"

    @property
    def values(self) -> dict[str, str]:
        """The Hive partition values: `dt` and, for hourly sources, `hour` (as they appear in the path)."""
        values = {"dt": f"{self.day:%Y-%m-%d}"}
        if self.hour is not None:
            values["hour"] = f"{self.hour:02d}"
        return values

    @property
    def start(self) -> datetime:
        """The partition's first instant: every row's `arrival_hour` lies in [start, end)."""
        return datetime(self.day.year, self.day.month, self.day.day, self.hour or 0)

    @property
    def end(self) -> datetime:
        return self.start + (timedelta(days=1) if self.hour is None else timedelta(hours=1))


def staged_files(lake: Lake, prefix: str) -> list[str]:
    """The staged Parquet keys under `prefix` (folder placeholders and other files left out)."""
    return [obj.key for obj in lake.list_objects(prefix) if obj.key.endswith(".parquet")]


def staged_partitions(lake: Lake, source: Source, partitions: Sequence[str] | None) -> list[StagedPartition]:
    """The partitions to register, sorted and distinct: the given ones, or (None) every partition staged."""
    if partitions is not None:
        return sorted({StagedPartition.parse(source, text) for text in partitions})
    found = {key.rsplit("/", 1)[0] for key in staged_files(lake, f"staged/{source.name}/")}
    return sorted({StagedPartition.parse(source, folder) for folder in found})


def require_s3_lake(lake: Lake, target: str) -> None:
    """Redshift's COPY and Athena's tables read S3: refuse a `file://` lake with a message that says what to do."""
    if lake.url.startswith("s3://"):
        return
    raise ValueError(
        f"EWH_TARGET={target} reads the staged Parquet from S3, but the lake is {lake.url}. "
        f"Set EWH_LAKE_URL=s3://<bucket>/<prefix> for {target}, or use EWH_TARGET=duckdb with a file:// lake."
    )


def sql_string(value: str) -> str:
    """A single-quoted SQL string literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def render_sql(target: str, name: str, sql_dir: Path = SQL_DIR, **params: str) -> str:
    """Render `include/sql/<target>/<name>.sql` with `string.Template` placeholders (`$table`, ...).

    Every placeholder must be given (a missing one raises KeyError), and values are inserted as given: callers
    quote identifiers and literals with the target's quoting helpers.
    """
    text = (sql_dir / target / f"{name}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return Template(body.strip().rstrip(";")).substitute(params)
