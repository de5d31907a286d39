"""Notifications through an Airflow notifier: SNS in production (Amazon provider), a log line and a file locally.

Task failures (a blocked quality gate or circuit breaker included: their exception text names the check, the
asset, the failing count, a sample and the Data Docs link) and completed syncs send a message with the DAG, the
run, the task, and the counts the task returned.

- `EWH_SNS_TOPIC_ARN` set: messages go to that topic with the provider's `SnsNotifier` (connection
  `EWH_AWS_CONN_ID`, default `aws_default`).
- Otherwise: a warning in the task log and one JSON line appended to `<local dir>/notifications.jsonl`.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)


def notification_message(context: dict[str, Any], event: str) -> dict[str, Any]:
    """The facts an operator needs: what happened, where, and the counts or the error."""
    ti = context.get("ti") or context.get("task_instance")
    exception = context.get("exception")
    message: dict[str, Any] = {
        "event": event,
        "dag_id": getattr(context.get("dag"), "dag_id", None) or getattr(ti, "dag_id", None),
        "run_id": context.get("run_id"),
        "task_id": getattr(ti, "task_id", None),
        "map_index": getattr(ti, "map_index", None),
        "try_number": getattr(ti, "try_number", None),
        "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if exception is not None:
        message["error"] = str(exception)
    outlets = [getattr(asset, "name", str(asset)) for asset in getattr(context.get("task"), "outlets", None) or []]
    if outlets:
        message["assets"] = outlets
    return message


class EngagementNotifier(BaseNotifier):
    """Send `event` ("task_failed", "sync_completed", ...) to SNS in production or to a local log and file."""

    template_fields = ("event",)

    def __init__(self, event: str) -> None:
        super().__init__()
        self.event = event

    def notify(self, context: dict[str, Any]) -> None:
        message = notification_message(context, self.event)
        ti = context.get("ti")
        if self.event.endswith("completed") and ti is not None:
            try:
                message["result"] = ti.xcom_pull(task_ids=ti.task_id)
            except Exception as error:  # a missing XCom must never break the notification
                message["result"] = f"(unavailable: {error})"
        topic = os.environ.get("EWH_SNS_TOPIC_ARN", "").strip()
        if topic:
            from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

            SnsNotifier(
                aws_conn_id=os.environ.get("EWH_AWS_CONN_ID", "aws_default"),
                target_arn=topic,
                subject=f"[engagement-warehouse] {message['event']}: {message['dag_id']}"[:100],
                message=json.dumps(message, default=str, indent=2),
            ).notify(context)
            return
        self._write_local(message)

    @staticmethod
    def _write_local(message: dict[str, Any]) -> None:
        from engagement_warehouse.settings import get_settings

        path = get_settings().local_dir / "notifications.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(message, default=str) + "\n")
        log.warning("notification %s: %s (also in %s)", message["event"], json.dumps(message, default=str), path)
