"""`dbt docs generate` (what `make docs` serves) works both ways it is run.

- With the DuckDB warehouse: the catalog holds every built model's columns and types.
- Offline, for any target (here redshift, which has no server to reach): `DBT_INTROSPECT=false` with
  `--no-populate-cache --empty-catalog` writes index.html, manifest.json and an empty catalog.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from .dbt_cli import DBT, run_dbt

pytestmark = pytest.mark.skipif(not DBT.exists(), reason="dbt virtualenv (.venv-dbt) is not installed")


def test_docs_generate_with_the_warehouse_and_offline(built_project: Path, tmp_path: Path) -> None:
    with_warehouse, offline = tmp_path / "with-warehouse", tmp_path / "offline"

    def without_connection() -> CompletedProcess[str]:
        return run_dbt(
            [
                *("docs", "generate", "--target", "redshift", "--no-populate-cache", "--empty-catalog"),
                *("--vars", "{offline_incremental: false}", "--target-path", str(offline / "target")),
            ],
            {"EWH_TARGET": "redshift", "DBT_INTROSPECT": "false"},
            offline,
        )

    def from_warehouse() -> CompletedProcess[str]:
        return run_dbt(
            [
                *("docs", "generate", "--target", "duckdb", "--vars", '{as_of: "2026-11-22"}'),
                *("--target-path", str(with_warehouse / "target")),
            ],
            {"EWH_TARGET": "duckdb", "EWH_DUCKDB_PATH": str(built_project / "warehouse.duckdb")},
            with_warehouse,
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda run: run(), (from_warehouse, without_connection)))
    for result in results:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]

    for folder in (with_warehouse, offline):
        for artefact in ("index.html", "manifest.json", "catalog.json"):
            assert (folder / "target" / artefact).stat().st_size > 0, f"{folder.name}: {artefact} missing"

    catalog = json.loads((with_warehouse / "target" / "catalog.json").read_text())
    profiles = catalog["nodes"]["model.engagement_warehouse.user_profiles"]
    assert {"user_id", "lifecycle_stage", "email"} <= set(profiles["columns"])
    assert json.loads((offline / "target" / "catalog.json").read_text())["nodes"] == {}
