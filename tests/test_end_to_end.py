"""The whole chain through Airflow on tiny generated data, in a temporary folder, read back from where it lands.

One `airflow dags test` per DAG (as `make run` does), against a sandbox Pinpoint started by the test on
127.0.0.1. Then `export_pinpoint` runs a second time and must send nothing, because nothing changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from engagement_warehouse.lake import Lake
from engagement_warehouse.sample_data import generate
from engagement_warehouse.sandbox import SandboxServer, SandboxStore

REPO_ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.e2e

AS_OF = date(2026, 11, 22)
BROKEN_DAY = date(2026, 11, 23)
APP_ID = "ewh-e2e-app"
VENV_BIN = Path(sys.executable).parent


def run(command: list[str], env: dict[str, str], cwd: Path = REPO_ROOT) -> str:
    completed = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, (
        f"{' '.join(command)} failed:\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
    )
    return completed.stdout


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("e2e")
    lake_url = (root / "lake").as_uri()
    generate(lake_url=lake_url, users=40, days=3, seed=11, end_date=AS_OF)
    with SandboxServer(root / "sandbox.sqlite") as sandbox:
        env = {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(REPO_ROOT / "plugins"),
            "AIRFLOW_HOME": str(root / "airflow"),
            "AIRFLOW__COSMOS__CACHE_DIR": str(root / "cosmos_cache"),
            "EWH_LAKE_URL": lake_url,
            "EWH_TARGET": "duckdb",
            "EWH_DUCKDB_PATH": str(root / "warehouse.duckdb"),
            "EWH_DATA_DOCS_DIR": str(root / "data_docs"),
            "EWH_LOCAL_DIR": str(root),
            "EWH_PINPOINT_APPLICATION_ID": APP_ID,
            "EWH_PINPOINT_ENDPOINT_URL": sandbox.endpoint_url,
            "EWH_PINPOINT_IMPORT_POLL_SECONDS": "1",
            "AWS_ACCESS_KEY_ID": "e2e",
            "AWS_SECRET_ACCESS_KEY": "e2e",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        run([str(VENV_BIN / "airflow"), "db", "migrate"], env)
        run([str(VENV_BIN / "airflow"), "pools", "set", "duckdb_warehouse", "1", "DuckDB writer"], env)
        run(
            [
                sys.executable,
                "-m",
                "engagement_warehouse.local_run",
                "--as-of",
                AS_OF.isoformat(),
                "--log-dir",
                str(root / "logs"),
            ],
            env,
        )
        first_batches = sandbox.store.call_count("UpdateEndpointsBatch")
        run(
            [
                sys.executable,
                "-m",
                "engagement_warehouse.local_run",
                "--as-of",
                AS_OF.isoformat(),
                "--dags",
                "export_pinpoint",
                "--log-dir",
                str(root / "logs2"),
            ],
            env,
        )
        second_batches = sandbox.store.call_count("UpdateEndpointsBatch") - first_batches
        summary = run(
            [sys.executable, "-m", "engagement_warehouse.reporting.summary", "--as-of", AS_OF.isoformat()],
            env,
        )
        # A broken mart: two opted-in endpoints arrive sharing one address (Pinpoint would silently deactivate
        # one of them). The gate must stop the chain before export_pinpoint: no call reaches the sandbox.
        calls_before_broken = sandbox.store.call_count()
        break_the_endpoint_export(root / "warehouse.duckdb", root / "lake", BROKEN_DAY)
        broken = subprocess.run(
            [
                sys.executable,
                "-m",
                "engagement_warehouse.local_run",
                "--as-of",
                BROKEN_DAY.isoformat(),
                "--dags",
                "ingest_engagement",
                "build_marts",
                "export_pinpoint",
                "--log-dir",
                str(root / "logs-broken"),
            ],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        calls_after_broken = sandbox.store.call_count()
        yield {
            "root": root,
            "lake": Lake(lake_url),
            "warehouse": root / "warehouse.duckdb",
            "store": SandboxStore(root / "sandbox.sqlite"),
            "first_batches": first_batches,
            "second_batches": second_batches,
            "summary": summary,
            "broken": broken,
            "calls_during_broken_run": calls_after_broken - calls_before_broken,
        }


def break_the_endpoint_export(warehouse: Path, lake_dir: Path, day: date) -> None:
    """Write a new endpoint export in which two active, opted-in email endpoints share one address."""
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = connection.execute(
            "select endpoint_id, user_id from marts.endpoint_segment_attributes "
            "where channel_type = 'EMAIL' order by endpoint_id limit 2"
        ).fetchall()
    finally:
        connection.close()
    records = [
        {
            "Id": endpoint_id,
            "ChannelType": "EMAIL",
            "Address": "shared.inbox@example.com",
            "EndpointStatus": "ACTIVE",
            "OptOut": "NONE",
            "EffectiveDate": f"{day.isoformat()}T06:00:00.000Z",
            "User": {"UserId": user_id},
        }
        for endpoint_id, user_id in rows
    ]
    path = lake_dir / f"raw/pinpoint_endpoints/{day:%Y/%m/%d}/broken-export-00000.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(record) for record in records) + "\n", encoding="utf-8")


def scalar(path: Path, sql: str) -> object:
    connection = duckdb.connect(str(path), read_only=True)
    try:
        return connection.execute(sql).fetchone()[0]
    finally:
        connection.close()


def test_every_source_landed_and_counts_add_up(pipeline) -> None:
    lake: Lake = pipeline["lake"]
    manifests = [o.key for o in lake.list_objects("manifests/landing/") if o.key.endswith(".json")]
    sources = {key.split("/")[2] for key in manifests}
    assert {"clickstream", "pinpoint_events", "pinpoint_endpoints", "partner_acme_loyalty"} <= sources
    for table in ("clickstream_events", "pinpoint_events", "pinpoint_endpoints", "partner_acme_loyalty"):
        assert scalar(pipeline["warehouse"], f"select count(*) from raw.{table}") > 0, table
    assert "quarantined" in pipeline["summary"]


def test_marts_are_built(pipeline) -> None:
    users = scalar(pipeline["warehouse"], "select count(*) from marts.user_profiles")
    distinct = scalar(pipeline["warehouse"], "select count(distinct user_id) from marts.user_profiles")
    assert users > 0 and users == distinct, "user_profiles has one row per user"
    assert scalar(pipeline["warehouse"], "select count(*) from marts.endpoint_segment_attributes") > 0


def test_sandbox_holds_exactly_the_exported_endpoints(pipeline) -> None:
    exported = scalar(pipeline["warehouse"], "select count(*) from marts.endpoint_segment_attributes")
    endpoints = pipeline["store"].endpoints(APP_ID)
    assert len(endpoints) == exported
    lifecycle = scalar(
        pipeline["warehouse"],
        "select count(*) from marts.endpoint_segment_attributes where lifecycle_stage is not null",
    )
    with_stage = [e for e in endpoints if (e.get("User") or {}).get("UserAttributes", {}).get("LifecycleStage")]
    assert len(with_stage) == lifecycle


def test_a_segment_was_imported_and_its_job_completed(pipeline) -> None:
    store: SandboxStore = pipeline["store"]
    jobs = store.import_jobs(APP_ID)
    assert jobs and all(job["JobStatus"] == "COMPLETED" for job in jobs)
    segments = store.segments(APP_ID)
    assert segments
    assert any(store.segment_members(APP_ID, segment["Id"]) for segment in segments)


def test_second_export_with_unchanged_data_sends_nothing(pipeline) -> None:
    assert pipeline["first_batches"] > 0
    assert pipeline["second_batches"] == 0


def test_a_broken_mart_blocks_the_export_and_says_why(pipeline) -> None:
    broken = pipeline["broken"]
    assert broken.returncode != 0, "the chain must stop when the gate fails"
    assert "build_marts failed" in broken.stderr + broken.stdout
    assert not any(line.strip().startswith("export_pinpoint") for line in broken.stdout.splitlines())
    assert pipeline["calls_during_broken_run"] == 0, "no Pinpoint call may be made from a failed mart"
    notifications = (pipeline["root"] / "notifications.jsonl").read_text(encoding="utf-8")
    assert "task_failed" in notifications and "address" in notifications.lower()
