"""The pipeline run by a real scheduler: PostgreSQL metadata, the LocalExecutor, assets driving the chain.

One story, told in order on generated data ending yesterday (UTC), against a sandbox Pinpoint on 127.0.0.1:

1. **Assets drive the chain, through a scheduler crash.** The test unpauses the five DAGs. The scheduler starts
   the ingest DAGs for yesterday (their schedule, no catch-up); their assets start `build_marts`, whose gated
   asset starts `export_pinpoint`. While the export is sending endpoint batches, the scheduler and every
   process it started (its LocalExecutor workers and their tasks) are killed with SIGKILL, as a crashed host
   would be, and a new scheduler is started. The chain completes: every run succeeds, no endpoint is lost (the
   sandbox equals the mart), none is recorded twice, and at most the one batch in flight at the kill is sent
   again (UpdateEndpointsBatch is an idempotent upsert, and sync state is committed per accepted batch).
2. **A backfill of three past days.** The partner delivers a weekly drop it had missed, dated three days ago.
   A backfill of `ingest_partner` over the three days before yesterday lands it in that day's run and nothing
   else. Backfilling the same days again changes nothing: staged files, warehouse tables and the sandbox stay
   identical, and no Pinpoint call is made.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from engagement_warehouse.sample_data import generate
from engagement_warehouse.sandbox import SandboxServer, SandboxStore

from .airflow_stack import AirflowStack, postgres_problem

pytestmark = pytest.mark.scheduler

APP_ID = "ewh-scheduler-app"
INGEST_DAGS = ("ingest_clickstream", "ingest_engagement", "ingest_partner")
ALL_DAGS = (*INGEST_DAGS, "build_marts", "export_pinpoint")
USERS = 300
DAYS = 5
BATCH_SIZE = 100  # UpdateEndpointsBatch items per request (Pinpoint's limit)
CHAIN_TIMEOUT = 480
PARTNER_PREFIX = "raw/partner/acme_loyalty"
story_timings: dict[str, float] = {}  # printed at the end (pytest -s shows them)


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    connection = duckdb.connect(str(path), read_only=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under `folder` and the SHA-256 of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def accepted_items(store: SandboxStore, after_id: int) -> int:
    """Endpoints carried by UpdateEndpointsBatch requests the sandbox accepted after request-log row `after_id`."""
    return sum(
        call["item_count"] or 0
        for call in store.calls("UpdateEndpointsBatch")
        if call["id"] > after_id and call["status"] < 300
    )


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory):
    problem = postgres_problem()
    if problem:
        pytest.fail(problem)
    root = tmp_path_factory.mktemp("scheduler")
    # The scheduler picks "yesterday" itself when the DAGs are unpaused: never straddle midnight (UTC).
    now = datetime.now(UTC)
    to_midnight = (datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC) - now).total_seconds()
    if to_midnight < 600:
        time.sleep(to_midnight + 5)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    lake_dir = root / "lake"
    generate(lake_url=lake_dir.as_uri(), users=USERS, days=DAYS, seed=5, end_date=yesterday, application_id=APP_ID)
    with SandboxServer(root / "sandbox.sqlite") as sandbox:
        project_env = {
            "EWH_LAKE_URL": lake_dir.as_uri(),
            "EWH_TARGET": "duckdb",
            "EWH_DUCKDB_PATH": str(root / "warehouse.duckdb"),
            "EWH_DATA_DOCS_DIR": str(root / "data_docs"),
            "EWH_LOCAL_DIR": str(root),
            "EWH_PINPOINT_APPLICATION_ID": APP_ID,
            "EWH_PINPOINT_ENDPOINT_URL": sandbox.endpoint_url,
            "EWH_PINPOINT_IMPORT_POLL_SECONDS": "1",
            # One batch a second: the export is still sending when the scheduler is killed.
            "EWH_PINPOINT_REQUESTS_PER_SECOND": "1",
            "AWS_ACCESS_KEY_ID": "scheduler-test",
            "AWS_SECRET_ACCESS_KEY": "scheduler-test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        stack = AirflowStack(root, project_env)
        try:
            started = time.monotonic()
            stack.create()
            stack.set_pool("duckdb_warehouse", 1)
            stack.set_pool("pinpoint_import_jobs", 2, include_deferred=True)
            stack.wait_for(lambda: set(ALL_DAGS) <= stack.dag_ids(), 120, "the dag-processor to parse the DAGs")
            story_timings["stack_ready"] = round(time.monotonic() - started, 1)
            yield {
                "root": root,
                "stack": stack,
                "sandbox": sandbox,
                "store": sandbox.store,
                "lake": lake_dir,
                "warehouse": root / "warehouse.duckdb",
                "yesterday": yesterday,
            }
        finally:
            print(f"scheduler-driven test timings (s): {dict(sorted(story_timings.items()))}")
            stack.close()


@pytest.fixture(scope="module")
def chain(story: dict[str, Any]) -> dict[str, Any]:
    """Unpause everything; kill the scheduler once the export has had a batch accepted; restart it; wait."""
    stack: AirflowStack = story["stack"]
    store: SandboxStore = story["store"]
    started = time.monotonic()
    for dag_id in ALL_DAGS:
        stack.unpause(dag_id)

    def first_batch_accepted() -> bool:
        return any(call["status"] < 300 for call in store.calls("UpdateEndpointsBatch"))

    stack.wait_for(first_batch_accepted, CHAIN_TIMEOUT, "the export's first accepted batch", poll=0.05)
    killed = stack.kill("scheduler")
    batches_at_kill = sum(call["status"] < 300 for call in store.calls("UpdateEndpointsBatch"))
    time.sleep(2)
    stack.start("scheduler")
    runs = {dag_id: stack.wait_for_runs(dag_id, 1, CHAIN_TIMEOUT) for dag_id in ALL_DAGS}
    story_timings["chain_with_crash"] = round(time.monotonic() - started, 1)
    export_run = runs["export_pinpoint"][0]["dag_run_id"]
    return {
        "runs": runs,
        "killed_processes": killed,
        "batches_at_kill": batches_at_kill,
        "export_tasks": stack.task_instances("export_pinpoint", export_run),
        "export_run_id": export_run,
    }


def test_the_dags_parse_without_import_errors(story: dict[str, Any]) -> None:
    assert story["stack"].import_errors() == []


def test_assets_drive_the_chain_from_landing_to_export(chain: dict[str, Any]) -> None:
    runs = chain["runs"]
    for dag_id, dag_runs in runs.items():
        assert [run["state"] for run in dag_runs] == ["success"], f"{dag_id}: {dag_runs}"
    for dag_id in INGEST_DAGS:
        assert runs[dag_id][0]["run_type"] == "scheduled"
    for dag_id in ("build_marts", "export_pinpoint"):
        assert runs[dag_id][0]["run_type"] == "asset_triggered"


def test_the_scheduler_was_killed_mid_export_and_the_task_was_retried(chain: dict[str, Any]) -> None:
    assert chain["killed_processes"] >= 2, "the scheduler and at least its running task were killed"
    (sync,) = [ti for ti in chain["export_tasks"] if ti["task_id"] == "sync_endpoints"]
    assert sync["state"] == "success"
    assert sync["try_number"] >= 2, "the task killed with the scheduler ran again after the restart"


def test_no_endpoint_is_lost_or_recorded_twice(story: dict[str, Any], chain: dict[str, Any]) -> None:
    warehouse = story["warehouse"]
    exported = rows(warehouse, "select endpoint_id from marts.endpoint_segment_attributes order by 1")
    assert len(exported) > 2 * BATCH_SIZE, "the export needs several batches for the crash to fall between them"
    in_sandbox = [endpoint["Id"] for endpoint in story["store"].endpoints(APP_ID)]
    assert in_sandbox == [endpoint_id for (endpoint_id,) in exported]
    recorded = rows(
        warehouse,
        "select count(*), count(distinct item_id) from ewh_sync.sync_items "
        f"where run_id = '{chain['export_run_id']}' and item_type = 'endpoint' and outcome = 'accepted'",
    )
    assert recorded == [(len(exported), len(exported))]
    run_row = rows(
        warehouse,
        "select endpoints_planned, endpoints_accepted, status from ewh_sync.sync_runs "
        f"where run_id = '{chain['export_run_id']}' and step = 'endpoints'",
    )
    assert run_row == [(len(exported), len(exported), "succeeded")], "the run's row counts both attempts"
    sent = accepted_items(story["store"], after_id=0)
    assert len(exported) <= sent <= len(exported) + BATCH_SIZE, "at most the batch in flight is sent again"


def test_every_segment_is_imported_once(story: dict[str, Any], chain: dict[str, Any]) -> None:
    store: SandboxStore = story["store"]
    jobs = store.import_jobs(APP_ID)
    assert jobs and all(job["JobStatus"] == "COMPLETED" for job in jobs)
    segments = store.segments(APP_ID)
    assert len(jobs) == len(segments), "one import job per segment: none repeated after the restart"
    imports = [ti for ti in chain["export_tasks"] if ti["task_id"] == "import_segment"]
    assert len(imports) == len(segments) and all(ti["state"] == "success" for ti in imports)


def snapshot(story: dict[str, Any]) -> dict[str, Any]:
    """What a backfill could change: the lake's staged, quarantine and ledger files, the warehouse's partner
    table, the marts, and the sandbox's endpoints and request count."""
    lake: Path = story["lake"]
    warehouse: Path = story["warehouse"]
    return {
        "lake": {layer: tree_digest(lake / layer) for layer in ("staged", "quarantine", "ledger")},
        "raw_partner": rows(warehouse, "select * from raw.partner_acme_loyalty order by all"),
        "marts": rows(warehouse, "select * from marts.endpoint_segment_attributes order by all"),
        "sandbox_endpoints": story["store"].endpoints(APP_ID),
        "sandbox_calls": story["store"].call_count(),
    }


def run_backfill(stack: AirflowStack, dag_id: str, first: date, last: date, reprocess: str) -> list[dict[str, Any]]:
    """Create a backfill over [first, last] (logical dates), wait until it completes; its runs, oldest first."""
    backfill_id = stack.backfill(dag_id, first.isoformat(), last.isoformat(), reprocess=reprocess)
    stack.wait_for(lambda: stack.backfill_done(backfill_id), CHAIN_TIMEOUT, f"backfill {backfill_id} of {dag_id}")
    runs = [run for run in stack.dag_runs(dag_id) if run["run_type"] == "backfill"]
    return stack.wait_for(
        lambda: runs if all(run["state"] in ("success", "failed") for run in stack.dag_runs(dag_id)) else None,
        CHAIN_TIMEOUT,
        f"the runs of backfill {backfill_id} to finish",
    )


def landing_manifest(lake: Path, day: date) -> dict[str, Any]:
    (path,) = (lake / "manifests/landing/partner_acme_loyalty" / day.isoformat()).glob("backfill*.json")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def backfills(story: dict[str, Any], chain: dict[str, Any]) -> dict[str, Any]:
    """The partner re-delivers a missed drop dated three days ago; backfill three past days, twice."""
    stack: AirflowStack = story["stack"]
    lake: Path = story["lake"]
    yesterday: date = story["yesterday"]
    first, late, last = (yesterday - timedelta(days=n) for n in (4, 3, 2))
    delivered = sorted((lake / PARTNER_PREFIX).rglob("*.csv"))[0]
    redelivered = lake / PARTNER_PREFIX / f"{late:%Y/%m/%d}/acme_loyalty_{late:%Y%m%d}.csv"
    redelivered.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(delivered, redelivered)
    partner_rows_before = rows(story["warehouse"], "select count(*) from raw.partner_acme_loyalty")[0][0]
    before = snapshot(story)

    started = time.monotonic()
    first_runs = run_backfill(stack, "ingest_partner", first, last, reprocess="none")
    after_first = snapshot(story)
    manifests = {day: landing_manifest(lake, day) for day in (first, late, last)}
    second_runs = run_backfill(stack, "ingest_partner", first, last, reprocess="completed")
    after_second = snapshot(story)
    story_timings["two_backfills"] = round(time.monotonic() - started, 1)
    return {
        "days": (first, late, last),
        "late": late,
        "redelivered_rows": len(redelivered.read_text(encoding="utf-8").splitlines()) - 1,
        "partner_rows_before": partner_rows_before,
        "before": before,
        "after_first": after_first,
        "after_second": after_second,
        "manifests": manifests,
        "first_runs": first_runs,
        "second_runs": second_runs,
        "build_marts_runs": len(stack.dag_runs("build_marts")),
    }


def test_a_backfill_of_three_days_lands_the_late_drop_in_its_day(backfills: dict[str, Any]) -> None:
    first_runs = backfills["first_runs"]
    assert [run["state"] for run in first_runs] == ["success"] * 3
    assert [run["logical_date"][:10] for run in first_runs] == [day.isoformat() for day in backfills["days"]]
    manifests = backfills["manifests"]
    assert {day: manifest["objects_read"] for day, manifest in manifests.items()} == {
        day: int(day == backfills["late"]) for day in backfills["days"]
    }
    late = manifests[backfills["late"]]
    assert late["rows_in"] == backfills["redelivered_rows"]
    assert late["rows_in"] == late["rows_staged"] + late["duplicates"] + late["quarantined"]
    partner_rows = len(backfills["after_first"]["raw_partner"])
    assert partner_rows == backfills["partner_rows_before"] + late["rows_staged"]
    assert backfills["after_first"]["sandbox_calls"] == backfills["before"]["sandbox_calls"]


def test_backfilling_the_same_days_again_changes_nothing(backfills: dict[str, Any]) -> None:
    second_runs = backfills["second_runs"]
    assert [run["state"] for run in second_runs] == ["success"] * 3
    assert [run["dag_run_id"] for run in second_runs] == [run["dag_run_id"] for run in backfills["first_runs"]]
    assert backfills["after_second"] == backfills["after_first"]


def test_one_source_backfilled_alone_does_not_rebuild_the_marts(backfills: dict[str, Any]) -> None:
    """`build_marts` waits for all three raw assets: a partner-only backfill reaches the marts with the next
    daily run of the other sources, not on its own."""
    assert backfills["build_marts_runs"] == 1
    assert backfills["after_second"]["marts"] == backfills["before"]["marts"]
