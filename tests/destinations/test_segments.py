import csv
from datetime import datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

from engagement_warehouse.destinations.base import Outcome
from engagement_warehouse.destinations.export_contract import find_segment_models
from engagement_warehouse.destinations.pinpoint.import_files import write_segment_files
from engagement_warehouse.destinations.pinpoint.jobs import summarize_import_job, wait_for_import_job
from engagement_warehouse.destinations.pinpoint.sync import (
    export_segments,
    record_segment_import_result,
    start_segment_import,
)

from .conftest import APP_ID, LOGICAL_DATE, ROLE_ARN, manifest_dict

FIXED = datetime(2026, 11, 23, 6, 0, 0)


def gold(conn):
    return next(s for s in find_segment_models(manifest_dict()) if s.model_name == "seg_gold_members")


def test_segment_csv_format_and_idempotent_rewrite(conn, tmp_path: Path):
    conn.execute(
        "create or replace table segments.seg_gold_members as select * from (values "
        "('ep-1'), ('ep-1'), ('ep,2'), ('ep\"3'), ('tab\there'), (null), ('ep-4')) t(endpoint_id)"
    )
    lake = (tmp_path / "lake").as_uri()
    folder = tmp_path / "lake/exports/pinpoint/segments/seg_gold_members/2026-11-23"
    folder.mkdir(parents=True)
    (folder / "part-00009.csv").write_text("Id\nstale\n")  # from an earlier attempt: must disappear

    export, rejected = write_segment_files(conn, gold(conn), lake, LOGICAL_DATE)
    assert export.location == f"{lake}/exports/pinpoint/segments/seg_gold_members/2026-11-23/"
    assert (export.rows, rejected) == (4, 1)
    assert sorted(p.name for p in folder.iterdir()) == ["part-00000.csv"]
    raw = (folder / "part-00000.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert raw == b'Id\n"ep""3"\n"ep,2"\nep-1\nep-4\n'
    assert [row for row in csv.reader(raw.decode().splitlines())] == [
        ["Id"],
        ['ep"3'],
        ["ep,2"],
        ["ep-1"],
        ["ep-4"],
    ]


def test_segment_files_split_below_max_size(conn, tmp_path: Path):
    conn.execute(
        "create or replace table segments.seg_gold_members as "
        "select 'ep-' || lpad(cast(i as varchar), 4, '0') as endpoint_id from range(100) t(i)"
    )
    export, _ = write_segment_files(conn, gold(conn), (tmp_path / "lake").as_uri(), LOGICAL_DATE, max_file_bytes=100)
    folder = tmp_path / "lake/exports/pinpoint/segments/seg_gold_members/2026-11-23"
    parts = sorted(folder.iterdir())
    assert len(parts) == len(export.files) > 1
    ids = []
    for part in parts:
        data = part.read_bytes()
        assert len(data) <= 100
        lines = data.decode().splitlines()
        assert lines[0] == "Id"
        ids += lines[1:]
    assert ids == [f"ep-{i:04d}" for i in range(100)]


def test_empty_segment_writes_nothing_and_makes_no_import(conn, manifest_path, tmp_path: Path):
    lake = (tmp_path / "lake").as_uri()
    exports = export_segments(conn, manifest_path, APP_ID, "run-1", LOGICAL_DATE, lake_url=lake, clock=lambda: FIXED)
    assert [e.segment_model for e in exports] == ["seg_gold_members"]  # seg_lapsed is empty
    assert not (tmp_path / "lake/exports/pinpoint/segments/seg_lapsed").exists()
    skipped = conn.execute(
        "select outcome, reason from ewh_sync.sync_items where item_type = 'segment' and item_id = 'seg_lapsed'"
    ).fetchone()
    assert skipped == ("skipped", "empty segment: no file written, no import")


def job_response(job_id: str, status: str, segment_id: str | None = None, **counts) -> dict:
    definition = {"Format": "CSV", "S3Url": "s3://b/p/", "RoleArn": ROLE_ARN}
    if segment_id:
        definition["SegmentId"] = segment_id
    return {
        "ImportJobResponse": {
            "Id": job_id,
            "ApplicationId": APP_ID,
            "JobStatus": status,
            "CreationDate": "2026-11-23T06:00:00Z",
            "Type": "IMPORT",
            "Definition": definition,
            **counts,
        }
    }


def test_registry_prevents_a_second_segment(conn, manifest_path, tmp_path: Path, pinpoint_client):
    lake = (tmp_path / "lake").as_uri()
    (export,) = export_segments(conn, manifest_path, APP_ID, "run-1", LOGICAL_DATE, lake_url=lake)
    first_request = {
        "ApplicationId": APP_ID,
        "ImportJobRequest": {
            "Format": "CSV",
            "S3Url": export.location,
            "RoleArn": ROLE_ARN,
            "RegisterEndpoints": False,
            "DefineSegment": True,
            "SegmentName": "Gold members",
        },
    }
    with Stubber(pinpoint_client) as stub:
        stub.add_response("create_import_job", job_response("job-1", "CREATED"), first_request)
        handle = start_segment_import(conn, pinpoint_client, APP_ID, ROLE_ARN, export, "run-1", clock=lambda: FIXED)
        stub.add_response(
            "get_import_job", job_response("job-1", "PROCESSING"), {"ApplicationId": APP_ID, "JobId": "job-1"}
        )
        stub.add_response(
            "get_import_job",
            job_response(
                "job-1",
                "COMPLETED",
                "seg-1",
                TotalProcessed=1,
                TotalFailures=0,
                CompletionDate="2026-11-23T06:00:30Z",
            ),
            {"ApplicationId": APP_ID, "JobId": "job-1"},
        )
        slept = []
        summary = wait_for_import_job(pinpoint_client, APP_ID, "job-1", poll_interval=7, sleep=slept.append)
        stub.assert_no_pending_responses()
    assert handle.job_id == "job-1" and handle.segment_id is None
    assert slept == [7]
    outcome = record_segment_import_result(
        conn, APP_ID, "run-1", "seg_gold_members", "Gold members", summary, clock=lambda: FIXED
    )
    assert outcome.outcome is Outcome.ACCEPTED
    item = conn.execute(
        "select outcome, job_id, segment_id, rows, job_status, duration_seconds from ewh_sync.sync_items "
        "where item_type = 'segment'  and item_id = 'seg_gold_members'"
    ).fetchone()
    assert item == ("accepted", "job-1", "seg-1", 1, "COMPLETED", 30.0)

    second_request = {
        "ApplicationId": APP_ID,
        "ImportJobRequest": {
            "Format": "CSV",
            "S3Url": ANY,
            "RoleArn": ROLE_ARN,
            "RegisterEndpoints": False,
            "SegmentId": "seg-1",
        },
    }
    with Stubber(pinpoint_client) as stub:
        stub.add_response("create_import_job", job_response("job-2", "CREATED", "seg-1"), second_request)
        handle2 = start_segment_import(conn, pinpoint_client, APP_ID, ROLE_ARN, export, "run-2")
        stub.assert_no_pending_responses()
    assert handle2.segment_id == "seg-1"
    assert conn.execute("select count(*) from ewh_sync.segment_registry").fetchone()[0] == 1


def test_segment_id_resolved_from_first_job_and_blocked_while_it_runs(conn, manifest_path, tmp_path, pinpoint_client):
    lake = (tmp_path / "lake").as_uri()
    (export,) = export_segments(conn, manifest_path, APP_ID, "run-1", LOGICAL_DATE, lake_url=lake)
    with Stubber(pinpoint_client) as stub:
        stub.add_response("create_import_job", job_response("job-1", "CREATED"))
        start_segment_import(conn, pinpoint_client, APP_ID, ROLE_ARN, export, "run-1")
        # run-2 starts while job-1 is still processing: no second DefineSegment
        stub.add_response("get_import_job", job_response("job-1", "PROCESSING"))
        assert start_segment_import(conn, pinpoint_client, APP_ID, ROLE_ARN, export, "run-2") is None
        # run-3: job-1 finished meanwhile (nobody recorded it): its segment id is used
        stub.add_response("get_import_job", job_response("job-1", "COMPLETED", "seg-9"))
        stub.add_response(
            "create_import_job",
            job_response("job-3", "CREATED", "seg-9"),
            {
                "ApplicationId": APP_ID,
                "ImportJobRequest": {
                    "Format": "CSV",
                    "S3Url": ANY,
                    "RoleArn": ROLE_ARN,
                    "RegisterEndpoints": False,
                    "SegmentId": "seg-9",
                },
            },
        )
        handle = start_segment_import(conn, pinpoint_client, APP_ID, ROLE_ARN, export, "run-3")
        stub.assert_no_pending_responses()
    assert handle.segment_id == "seg-9"


def test_a_retry_in_the_same_run_waits_for_the_job_it_started(conn, manifest_path, tmp_path, pinpoint_client):
    """A retried import task (its success report was lost, or its worker died) never imports the segment twice."""
    lake = (tmp_path / "lake").as_uri()
    (export,) = export_segments(conn, manifest_path, APP_ID, "run-1", LOGICAL_DATE, lake_url=lake)
    with Stubber(pinpoint_client) as stub:
        stub.add_response("create_import_job", job_response("job-1", "CREATED"))
        first = start_segment_import(conn, pinpoint_client, APP_ID, ROLE_ARN, export, "run-1")
        retried = start_segment_import(conn, pinpoint_client, APP_ID, ROLE_ARN, export, "run-1")  # no API call
        stub.assert_no_pending_responses()
    assert retried.job_id == first.job_id == "job-1"
    # The job completed and was recorded: a retry after that still waits on (and re-reads) the same job.
    record_segment_import_result(
        conn,
        APP_ID,
        "run-1",
        export.segment_model,
        export.segment_name,
        summarize_import_job(job_response("job-1", "COMPLETED", "seg-1")["ImportJobResponse"]),
    )
    assert start_segment_import(conn, pinpoint_client, APP_ID, ROLE_ARN, export, "run-1").job_id == "job-1"
    # A failed job is not resumed: the retry starts a new one.
    record_segment_import_result(
        conn,
        APP_ID,
        "run-1",
        export.segment_model,
        export.segment_name,
        summarize_import_job(job_response("job-1", "FAILED")["ImportJobResponse"]),
    )
    with Stubber(pinpoint_client) as stub:
        stub.add_response("create_import_job", job_response("job-2", "CREATED"))
        assert start_segment_import(conn, pinpoint_client, APP_ID, ROLE_ARN, export, "run-1").job_id == "job-2"


def test_completed_with_failures_warns_or_fails_by_setting(conn):
    summary = {
        "job_id": "j",
        "job_status": "COMPLETED",
        "segment_id": "s",
        "total_failures": 2,
        "failures": ["row 2: bad id", "row 5: bad id"],
    }
    warn = record_segment_import_result(conn, APP_ID, "r1", "seg_x", "X", summary)
    assert warn.outcome is Outcome.ACCEPTED and "2 rows failed, first: row 2: bad id" in warn.reason
    fail = record_segment_import_result(conn, APP_ID, "r2", "seg_x", "X", summary, fail_on_row_failures=True)
    assert fail.outcome is Outcome.FAILED
    failed_job = record_segment_import_result(
        conn, APP_ID, "r3", "seg_x", "X", {"job_id": "j", "job_status": "FAILED", "failures": ["unreadable"]}
    )
    assert failed_job.outcome is Outcome.FAILED and "unreadable" in failed_job.reason


def test_segment_dry_run_reports_sizes_and_calls_nothing(conn, manifest_path, tmp_path: Path):
    lake = (tmp_path / "lake").as_uri()
    exports = export_segments(conn, manifest_path, APP_ID, "run-1", LOGICAL_DATE, lake_url=lake, dry_run=True)
    assert exports == []
    assert not (tmp_path / "lake/exports/pinpoint/segments").exists()
    text = (tmp_path / "lake/exports/pinpoint/dry_run/2026-11-23/segments_diff.md").read_text()
    assert "| Gold members (seg_gold_members) | 1 | None | None |" in text


def test_segment_files_on_s3_replace_the_prefix(conn):
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="a",
            aws_secret_access_key="b",
        )
        s3.create_bucket(Bucket="lake")
        options = {
            "key": "a",
            "secret": "b",
            "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
        conn.execute(
            "create or replace table segments.seg_gold_members as "
            "select 'ep-' || lpad(cast(i as varchar), 2, '0') as endpoint_id from range(50) t(i)"
        )
        first, _ = write_segment_files(
            conn, gold(conn), "s3://lake/prod", LOGICAL_DATE, max_file_bytes=200, storage_options=options
        )
        assert first.location == "s3://lake/prod/exports/pinpoint/segments/seg_gold_members/2026-11-23/"
        assert len(first.files) == 2
        second, _ = write_segment_files(
            conn, gold(conn), "s3://lake/prod", LOGICAL_DATE, max_file_bytes=10_000, storage_options=options
        )
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"])
        assert keys == ["prod/exports/pinpoint/segments/seg_gold_members/2026-11-23/part-00000.csv"]
        body = s3.get_object(Bucket="lake", Key=keys[0])["Body"].read().decode()
        assert body.splitlines() == ["Id"] + [f"ep-{i:02d}" for i in range(50)]
        assert second.rows == 50
    finally:
        server.stop()
