"""The loader interface: every target registers a source's staged Parquet as one `raw` table."""

from __future__ import annotations

from abc import ABC, abstractmethod

from engagement_warehouse.lake import Lake
from engagement_warehouse.sources.base import Source


class WarehouseLoader(ABC):
    """Makes `raw.<source.table>` show exactly the staged rows of a source (idempotent)."""

    @abstractmethod
    def register(self, lake: Lake, source: Source) -> int:
        """Register the staged data of `source`; return the table's row count."""
