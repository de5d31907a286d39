"""Warehouse loaders: register staged Parquet as `raw.<table>` in the target (one code path per target)."""

from __future__ import annotations

from engagement_warehouse.settings import Settings
from engagement_warehouse.warehouse.base import WarehouseLoader


def get_loader(settings: Settings) -> WarehouseLoader:
    """The loader for `EWH_TARGET`."""
    if settings.target == "duckdb":
        from engagement_warehouse.warehouse.duckdb import DuckDBLoader

        return DuckDBLoader(settings.duckdb_path)
    raise NotImplementedError(
        f"EWH_TARGET={settings.target}: registering staged data in {settings.target} is not built yet "
        "(tracked by the landing issue). Use EWH_TARGET=duckdb, or load the staged Parquet yourself."
    )
