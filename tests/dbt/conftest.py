"""One `dbt build` on the raw fixture per test session, shared by the dbt tests (a build costs several seconds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .dbt_cli import DBT, run_dbt
from .raw_fixture import build_raw_warehouse

AS_OF_VARS = '{as_of: "2026-11-22"}'


@pytest.fixture(scope="session")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run `dbt build` (models + data tests + unit tests) on the raw fixture; return its folder.

    The folder holds `warehouse.duckdb` and dbt's `target/` (manifest.json included).
    """
    if not DBT.exists():
        pytest.skip("dbt virtualenv (.venv-dbt) is not installed")
    tmp = tmp_path_factory.mktemp("dbt-build")
    warehouse = tmp / "warehouse.duckdb"
    build_raw_warehouse(warehouse)
    result = run_dbt(
        ["build", "--target", "duckdb", "--vars", AS_OF_VARS, "--target-path", str(tmp / "target")],
        {"EWH_DUCKDB_PATH": str(warehouse), "EWH_TARGET": "duckdb"},
        tmp,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "ERROR=0" in result.stdout and " WARN=0 " in result.stdout, result.stdout[-3000:]
    assert "unit tests" in result.stdout  # the unit tests ran as part of the build
    return tmp


@pytest.fixture(scope="session")
def built_warehouse(built_project: Path) -> Path:
    """The DuckDB file `dbt build` populated."""
    return built_project / "warehouse.duckdb"


@pytest.fixture(scope="session")
def built_manifest(built_project: Path) -> dict[str, Any]:
    """The manifest.json written by the same build (the manifest `dbt parse` writes, as cosmos reads it)."""
    return json.loads((built_project / "target" / "manifest.json").read_text())
