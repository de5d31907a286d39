"""A deferrable sensor that waits for a Pinpoint import job (the DAG side of `triggers.py`).

Typical wiring, one mapped chain per segment (Pinpoint allows 2 concurrent import jobs by default, so
map with `max_active_tis_per_dagrun=2` on the start task):

    start (python: pinpoint.sync.start_segment_import -> {"job_id", ...})
      -> PinpointImportJobSensor(job_id="{{ ti.xcom_pull(...)['job_id'] }}")  # returns the job summary
      -> record (python: pinpoint.sync.record_segment_import_result(summary), trigger_rule="all_done")

By default the sensor only fails on a timeout or an unreadable job, and returns the job summary as its
XCom, so the recording task writes the ledger and decides. Set `fail_on_job_failure=True` to fail here on
FAILED, and `fail_on_row_failures=True` to fail here on COMPLETED with failed rows.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator, BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from engagement_warehouse.destinations.pinpoint.client import make_pinpoint_client
from engagement_warehouse.destinations.pinpoint.jobs import TERMINAL_STATES, get_import_job
from engagement_warehouse.destinations.pinpoint.triggers import PinpointImportJobTrigger


class PinpointImportJobSensor(BaseSensorOperator):
    """Wait until a Pinpoint import job is COMPLETED or FAILED; return its summary."""

    template_fields = ("application_id", "job_id")

    def __init__(
        self,
        *,
        application_id: str,
        job_id: str | None,
        region_name: str,
        endpoint_url: str | None = None,
        deferrable: bool = True,
        poll_interval: float = 30.0,
        fail_on_job_failure: bool = False,
        fail_on_row_failures: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("timeout", timedelta(hours=6).total_seconds())
        super().__init__(poke_interval=poll_interval, **kwargs)
        self.application_id = application_id
        self.job_id = job_id
        self.region_name = region_name
        self.endpoint_url = endpoint_url
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.fail_on_job_failure = fail_on_job_failure
        self.fail_on_row_failures = fail_on_row_failures

    def execute(self, context: Any) -> Any:
        """Defer to the trigger (default), or poke in the worker when `deferrable=False`."""
        if not self.job_id or self.job_id == "None":
            raise AirflowSkipException("no import job was started (empty segment or defining job running)")
        if not self.deferrable:
            return super().execute(context)
        self.defer(
            trigger=PinpointImportJobTrigger(
                application_id=self.application_id,
                job_id=self.job_id,
                region_name=self.region_name,
                endpoint_url=self.endpoint_url,
                poll_interval=self.poll_interval,
                timeout_seconds=float(self.timeout),
            ),
            method_name="execute_complete",
        )

    def poke(self, context: Any) -> PokeReturnValue:
        """One GetImportJob call (non-deferrable mode)."""
        client = make_pinpoint_client(self.endpoint_url, self.region_name)
        summary = get_import_job(client, self.application_id, str(self.job_id))
        if summary["job_status"] not in TERMINAL_STATES:
            return PokeReturnValue(is_done=False)
        status = "success" if summary["job_status"] == "COMPLETED" else "failed"
        return PokeReturnValue(is_done=True, xcom_value=self.check_event({**summary, "status": status}))

    def check_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Fail the task when the event says so (timeout, error, or job failures per the settings)."""
        status = event.get("status")
        if status in ("timeout", "error"):
            detail = event.get("message") or event.get("job_status")
            raise AirflowFailException(f"import job {event.get('job_id')} {status}: {detail}")
        if self.fail_on_job_failure and status == "failed":
            raise AirflowFailException(f"import job {event.get('job_id')} FAILED: {event.get('failures')}")
        if self.fail_on_row_failures and event.get("total_failures"):
            raise AirflowFailException(
                f"import job {event.get('job_id')} completed with {event['total_failures']} failed rows: "
                f"{event.get('failures')}"
            )
        if event.get("total_failures"):
            self.log.warning(
                "import job %s: %s rows failed, first: %s",
                event.get("job_id"),
                event["total_failures"],
                event.get("failures"),
            )
        return event

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: check the event and return it (XCom)."""
        return self.check_event(event)


FAIL_ON_ROW_FAILURES_ENV = "EWH_PINPOINT_FAIL_ON_IMPORT_ROW_FAILURES"


def fail_on_row_failures_setting(explicit: bool | None = None) -> bool:
    """Whether an import COMPLETED with failed rows fails the task (True) or only warns (False).

    An explicit operator argument wins; otherwise `EWH_PINPOINT_FAIL_ON_IMPORT_ROW_FAILURES` (true/1/yes),
    read when the task runs, never at DAG parse time. Default: warn (the rows that failed are in the ledger).
    """
    if explicit is not None:
        return explicit
    return os.environ.get(FAIL_ON_ROW_FAILURES_ENV, "").strip().lower() in ("1", "true", "yes")


class PinpointSegmentImportOperator(BaseOperator):
    """Import one exported segment: CreateImportJob, wait in the triggerer (deferred), record the outcome.

    Start, wait and record live in one task instance, so a pool of N slots with `include_deferred=True`
    (`pinpoint_import_jobs`, 2 by default: Pinpoint's concurrent import-job quota) bounds the jobs in flight.
    No worker slot is held while the job runs. Settings (application, role, endpoint) are read when the task
    runs, never at DAG parse time. The warehouse bookkeeping (segment registry, sync ledger) is written by
    `pinpoint.sync`, so a rerun re-imports into the stored segment id instead of defining a new segment.
    A job COMPLETED with failed rows warns, or fails the task when `fail_on_row_failures` (default: the
    `EWH_PINPOINT_FAIL_ON_IMPORT_ROW_FAILURES` setting, see `fail_on_row_failures_setting`).
    """

    template_fields = ("export",)

    def __init__(
        self,
        *,
        export: dict[str, Any],
        poll_interval: float | None = None,
        job_timeout: timedelta = timedelta(hours=6),
        fail_on_row_failures: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.export = export
        # Seconds between GetImportJob calls: EWH_PINPOINT_IMPORT_POLL_SECONDS (default 30) unless given.
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.fail_on_row_failures = fail_on_row_failures

    def execute(self, context: Any) -> Any:
        from engagement_warehouse.destinations.base import SegmentExport
        from engagement_warehouse.destinations.pinpoint.sync import start_segment_import
        from engagement_warehouse.settings import get_settings
        from engagement_warehouse.tasks import pinpoint_client
        from engagement_warehouse.warehouse.duckdb import connect

        settings = get_settings()
        export = SegmentExport(**{**self.export, "files": tuple(self.export.get("files") or ())})
        with connect(settings.duckdb_path) as conn:
            handle = start_segment_import(
                conn,
                pinpoint_client(settings),
                settings.pinpoint_application_id,
                settings.pinpoint_import_role_arn,
                export,
                context["run_id"],
            )
        if handle is None:
            raise AirflowSkipException(f"{export.segment_model}: its defining import job is still running")
        self.defer(
            trigger=PinpointImportJobTrigger(
                application_id=settings.pinpoint_application_id,
                job_id=handle.job_id,
                region_name=settings.aws_region,
                endpoint_url=settings.pinpoint_endpoint_url,
                poll_interval=self.poll_interval or float(os.environ.get("EWH_PINPOINT_IMPORT_POLL_SECONDS", "30")),
                timeout_seconds=self.job_timeout.total_seconds(),
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        from engagement_warehouse.destinations.pinpoint.sync import record_segment_import_result
        from engagement_warehouse.settings import get_settings
        from engagement_warehouse.warehouse.duckdb import connect

        segment_model, segment_name = self.export["segment_model"], self.export["segment_name"]
        settings = get_settings()
        with connect(settings.duckdb_path) as conn:
            outcome = record_segment_import_result(
                conn,
                settings.pinpoint_application_id,
                context["run_id"],
                segment_model,
                segment_name,
                event,
                fail_on_row_failures=fail_on_row_failures_setting(self.fail_on_row_failures),
            )
        self.log.info(
            "segment %s: import job %s %s (%s rows processed, %s failed)%s",
            segment_model,
            event.get("job_id"),
            event.get("job_status"),
            event.get("total_processed"),
            event.get("total_failures"),
            f": {outcome.reason}" if outcome.reason else "",
        )
        if outcome.outcome == "failed":
            raise AirflowFailException(f"segment {segment_model} import failed: {outcome.reason}")
        return {"segment_model": segment_model, **event}
