import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskDeferred

from engagement_warehouse.destinations.pinpoint.operators import PinpointImportJobSensor
from engagement_warehouse.destinations.pinpoint.triggers import PinpointImportJobTrigger


def sensor(**kwargs):
    return PinpointImportJobSensor(
        task_id="wait", application_id="app", job_id="job-1", region_name="us-east-1", **kwargs
    )


def test_execute_defers_to_the_trigger():
    with pytest.raises(TaskDeferred) as deferred:
        sensor(poll_interval=5, timeout=120).execute(context={})
    trigger = deferred.value.trigger
    assert isinstance(trigger, PinpointImportJobTrigger)
    assert (trigger.job_id, trigger.poll_interval, trigger.timeout_seconds) == ("job-1", 5, 120.0)
    assert deferred.value.method_name == "execute_complete"


def test_no_job_skips():
    with pytest.raises(AirflowSkipException):
        PinpointImportJobSensor(task_id="w", application_id="a", job_id=None, region_name="r").execute({})


def test_execute_complete_returns_event_or_fails_by_setting():
    done = {"status": "success", "job_id": "job-1", "job_status": "COMPLETED", "total_failures": 0}
    assert sensor().execute_complete({}, done) == done
    with pytest.raises(AirflowFailException, match="timeout"):
        sensor().execute_complete({}, {"status": "timeout", "job_id": "job-1", "job_status": "PROCESSING"})
    failed = {"status": "failed", "job_id": "job-1", "job_status": "FAILED", "failures": ["x"]}
    assert sensor().execute_complete({}, failed) == failed  # the recording task decides
    with pytest.raises(AirflowFailException):
        sensor(fail_on_job_failure=True).execute_complete({}, failed)
    partial = {**done, "total_failures": 3, "failures": ["row 1"]}
    assert sensor().execute_complete({}, partial) == partial
    with pytest.raises(AirflowFailException, match="3 failed rows"):
        sensor(fail_on_row_failures=True).execute_complete({}, partial)


def test_fail_on_row_failures_setting(monkeypatch):
    from engagement_warehouse.destinations.pinpoint.operators import (
        FAIL_ON_ROW_FAILURES_ENV,
        fail_on_row_failures_setting,
    )

    monkeypatch.delenv(FAIL_ON_ROW_FAILURES_ENV, raising=False)
    assert fail_on_row_failures_setting() is False  # default: warn
    monkeypatch.setenv(FAIL_ON_ROW_FAILURES_ENV, "true")
    assert fail_on_row_failures_setting() is True
    assert fail_on_row_failures_setting(False) is False  # an explicit argument wins
    monkeypatch.setenv(FAIL_ON_ROW_FAILURES_ENV, "no")
    assert fail_on_row_failures_setting() is False
