"""The Amazon Pinpoint destination: payloads, batching, client config, segment import files and jobs.

Airflow-only pieces (`triggers.py`, `operators.py`) are imported explicitly, never from here, so the
library runs without Airflow.
"""

from engagement_warehouse.destinations.pinpoint.client import make_pinpoint_client
from engagement_warehouse.destinations.pinpoint.destination import PinpointDestination

__all__ = ["PinpointDestination", "make_pinpoint_client"]
