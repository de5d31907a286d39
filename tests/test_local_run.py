"""`make run`'s path: `local_run` runs a DAG with `airflow dags test` for the day it is given.

The whole chain under a real scheduler is `tests/scheduler/`; this checks what only `make run` does: the
logical date and `--conf as_of` it passes make the run land exactly the requested day, and a failed run stops
`local_run` with the log's tail. One DAG, on tiny generated data in a temporary folder (about 25 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from engagement_warehouse.sample_data import generate

REPO_ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 22)


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("local_run")
    generate(lake_url=(root / "lake").as_uri(), users=20, days=2, seed=3, end_date=AS_OF, application_id="ewh-app")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT / "plugins"),
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__COSMOS__CACHE_DIR": str(root / "cosmos_cache"),
        "EWH_LAKE_URL": (root / "lake").as_uri(),
        "EWH_DUCKDB_PATH": str(root / "warehouse.duckdb"),
        "EWH_DATA_DOCS_DIR": str(root / "data_docs"),
        "EWH_LOCAL_DIR": str(root),
    }
    migrate = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"], env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return {**env, "EWH_TEST_ROOT": str(root)}


def local_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "engagement_warehouse.local_run", "--log-dir", env["EWH_TEST_ROOT"], *args]
    return subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True)


def test_local_run_lands_the_requested_day(airflow_env: dict[str, str]) -> None:
    done = local_run(airflow_env, "--as-of", AS_OF.isoformat(), "--dags", "ingest_partner")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ingest_partner" in done.stdout and "ok" in done.stdout
    lake = Path(airflow_env["EWH_TEST_ROOT"]) / "lake"
    (manifest_path,) = (lake / "manifests/landing/partner_acme_loyalty" / AS_OF.isoformat()).glob("*.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest["logical_date"] == AS_OF.isoformat()
    assert manifest["objects_read"] == 2 and manifest["rows_staged"] > 0  # both weekly drops up to AS_OF
    assert manifest["rows_in"] == manifest["rows_staged"] + manifest["duplicates"] + manifest["quarantined"]


def test_a_failed_run_stops_local_run_and_shows_the_log(airflow_env: dict[str, str]) -> None:
    # Settings refuse an unknown target, so the task fails (and its two retries, one second apart).
    broken = {**airflow_env, "EWH_TARGET": "snowflake", "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "1"}
    done = local_run(broken, "--as-of", AS_OF.isoformat(), "--dags", "ingest_partner", "build_marts")
    assert done.returncode != 0
    assert "ingest_partner failed" in done.stdout + done.stderr
    assert "build_marts" not in done.stdout, "nothing runs after a failed DAG"
