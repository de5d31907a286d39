"""`get_loader` picks one loader per EWH_TARGET, and every loader takes the same `register` arguments."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from engagement_warehouse.lake import Lake
from engagement_warehouse.settings import load_settings
from engagement_warehouse.sources import get_source
from engagement_warehouse.warehouse import get_loader
from engagement_warehouse.warehouse.athena import AthenaLoader
from engagement_warehouse.warehouse.base import WarehouseLoader
from engagement_warehouse.warehouse.duckdb import DuckDBLoader
from engagement_warehouse.warehouse.redshift import RedshiftLoader


def test_one_loader_per_target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EWH_REDSHIFT_WORKGROUP_NAME", "ewh-wg")
    monkeypatch.setenv("EWH_REDSHIFT_DATABASE", "dev")
    monkeypatch.setenv("EWH_REDSHIFT_COPY_ROLE_ARN", "arn:aws:iam::123456789012:role/ewh-redshift-copy")
    monkeypatch.setenv("EWH_ATHENA_DATABASE", "ewh_raw")
    base = {"EWH_LOCAL_DIR": str(tmp_path)}
    assert isinstance(get_loader(load_settings(base)), DuckDBLoader)
    redshift = get_loader(load_settings({**base, "EWH_TARGET": "redshift"}))
    assert isinstance(redshift, RedshiftLoader) and redshift.config.workgroup_name == "ewh-wg"
    athena = get_loader(load_settings({**base, "EWH_TARGET": "athena"}))
    assert isinstance(athena, AthenaLoader) and athena.config.database == "ewh_raw"


@pytest.mark.parametrize("loader", [DuckDBLoader, RedshiftLoader, AthenaLoader])
def test_every_loader_shares_the_interface(loader: type[WarehouseLoader]) -> None:
    assert issubclass(loader, WarehouseLoader)
    assert inspect.signature(loader.register) == inspect.signature(WarehouseLoader.register)


def test_duckdb_builds_a_missing_table_from_everything_staged_even_given_partitions(
    tmp_path: Path, stage_source: Any
) -> None:
    lake_root = tmp_path / "lake"
    lake_root.mkdir()
    lake = Lake(lake_root.as_uri())
    source = get_source("clickstream")
    first, _second = stage_source(lake, source)  # two partitions of 3 rows
    assert DuckDBLoader(tmp_path / "warehouse.duckdb").register(lake, source, [first]) == 6
