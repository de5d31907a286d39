"""Warehouse loaders: register staged Parquet as `raw.<table>` in the target (one code path per target)."""

from __future__ import annotations

from engagement_warehouse.settings import Settings
from engagement_warehouse.warehouse.base import WarehouseLoader


def get_loader(settings: Settings) -> WarehouseLoader:
    """The loader for `EWH_TARGET` (Redshift and Athena read their configuration from the environment)."""
    if settings.target == "redshift":
        from engagement_warehouse.warehouse.redshift import RedshiftConfig, RedshiftLoader

        return RedshiftLoader(RedshiftConfig.from_env())
    if settings.target == "athena":
        from engagement_warehouse.warehouse.athena import AthenaConfig, AthenaLoader

        return AthenaLoader(AthenaConfig.from_env())
    from engagement_warehouse.warehouse.duckdb import DuckDBLoader

    return DuckDBLoader(settings.duckdb_path)
