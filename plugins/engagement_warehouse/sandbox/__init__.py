"""A local Amazon Pinpoint sandbox: the REST API subset the exporter uses, for the real boto3 client.

moto has no Pinpoint endpoints, segments or import jobs, so this small server stands in for them
locally and in tests. It reads the contract only from botocore's Pinpoint service model and shares
no code with the exporter (two independent readings of the same contract catch each other's
mistakes). State lives in one SQLite file, readable with `SandboxStore`.

    with SandboxServer(tmp_path / "pinpoint.db") as sandbox:
        client = boto3.client("pinpoint", endpoint_url=sandbox.endpoint_url, region_name="us-east-1")
        ...
        assert sandbox.store.call_count("UpdateEndpointsBatch") == 1

Command line: `python -m engagement_warehouse.sandbox --host 127.0.0.1 --port 4579 --db PATH`.
Sandbox-only extension: import and export jobs also accept `file:///abs/path` URLs.
"""

from engagement_warehouse.sandbox.faults import FaultConfig
from engagement_warehouse.sandbox.server import SandboxServer
from engagement_warehouse.sandbox.store import SandboxStore

__all__ = ["FaultConfig", "SandboxServer", "SandboxStore"]
