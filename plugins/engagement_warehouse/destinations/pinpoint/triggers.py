"""An Airflow trigger that polls a Pinpoint import job until it ends, without holding a worker slot.

Runs in the triggerer's event loop: every blocking boto3 call goes through `asyncio.to_thread`, waits use
`asyncio.sleep`. The boto3 client is built inside the trigger (a trigger is serialised to the metadata
database and may be resumed by another triggerer process), from the default AWS credential chain.
The timeout is measured from `started_at` (epoch seconds, serialised), so it survives a triggerer restart.

Event payload: `status` (`success` for COMPLETED, `failed` for FAILED, `timeout`, or `error` when
GetImportJob itself failed after botocore's retries) plus the job summary (`job_id`, `job_status`,
`segment_id`, piece and row counts, the first `failures`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from botocore.exceptions import BotoCoreError, ClientError

from engagement_warehouse.destinations.pinpoint.client import make_pinpoint_client
from engagement_warehouse.destinations.pinpoint.jobs import TERMINAL_STATES, get_import_job


class PinpointImportJobTrigger(BaseTrigger):
    """Poll GetImportJob every `poll_interval` seconds until COMPLETED, FAILED or the timeout."""

    def __init__(
        self,
        application_id: str,
        job_id: str,
        region_name: str,
        endpoint_url: str | None = None,
        poll_interval: float = 30.0,
        timeout_seconds: float = 6 * 3600.0,
        started_at: float | None = None,
    ) -> None:
        super().__init__()
        self.application_id = application_id
        self.job_id = job_id
        self.region_name = region_name
        self.endpoint_url = endpoint_url
        self.poll_interval = poll_interval
        self.timeout_seconds = timeout_seconds
        self.started_at = time.time() if started_at is None else started_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and kwargs to rebuild this trigger in the triggerer."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "application_id": self.application_id,
                "job_id": self.job_id,
                "region_name": self.region_name,
                "endpoint_url": self.endpoint_url,
                "poll_interval": self.poll_interval,
                "timeout_seconds": self.timeout_seconds,
                "started_at": self.started_at,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Yield exactly one event when the job ends, times out or cannot be read."""
        client = await asyncio.to_thread(make_pinpoint_client, self.endpoint_url, self.region_name)
        deadline = self.started_at + self.timeout_seconds
        summary: dict[str, Any] = {"job_id": self.job_id, "job_status": None}
        while True:
            try:
                summary = await asyncio.to_thread(get_import_job, client, self.application_id, self.job_id)
            except (ClientError, BotoCoreError) as error:
                yield TriggerEvent({**summary, "status": "error", "message": str(error)})
                return
            status = summary["job_status"]
            if status in TERMINAL_STATES:
                outcome = "success" if status == "COMPLETED" else "failed"
                yield TriggerEvent({**summary, "status": outcome})
                return
            if time.time() >= deadline:
                yield TriggerEvent({**summary, "status": "timeout"})
                return
            self.log.info("import job %s is %s; next poll in %ss", self.job_id, status, self.poll_interval)
            await asyncio.sleep(self.poll_interval)
