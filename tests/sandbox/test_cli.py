"""`python -m engagement_warehouse.sandbox`: foreground server, pidfile, loopback-only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engagement_warehouse.sandbox import SandboxServer, SandboxStore
from engagement_warehouse.sandbox.__main__ import main

from ._helpers import APP, email_item, make_client, put, raw

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_non_loopback_hosts_are_refused(tmp_path, host, capsys):
    with pytest.raises(ValueError):
        SandboxServer(tmp_path / "p.db", host=host)
    assert main(["--host", host, "--port", "0", "--db", str(tmp_path / "p.db")]) == 2
    assert "loopback" in capsys.readouterr().err


def test_ipv6_loopback_works(tmp_path):
    with SandboxServer(tmp_path / "p.db", host="::1") as sandbox:
        assert sandbox.endpoint_url.startswith("http://[::1]:")
        put(make_client(sandbox.endpoint_url), [email_item("a")])
        assert sandbox.store.call_count("UpdateEndpointsBatch") == 1


def test_foreground_server_logs_requests_and_stops_on_sigterm(tmp_path):
    port, db, pidfile = _free_port(), tmp_path / "state" / "p.db", tmp_path / "sandbox.pid"
    env = {**os.environ, "PYTHONPATH": str(REPO / "plugins")}
    command = [
        sys.executable,
        "-m",
        "engagement_warehouse.sandbox",
        "--port",
        str(port),
        "--db",
        str(db),
        "--pidfile",
        str(pidfile),
    ]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if raw(f"{url}/_sandbox/health", "GET")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        assert pidfile.read_text().strip() == str(process.pid)
        put(make_client(url), [email_item("a"), email_item("b")])
        assert SandboxStore(db).endpoint(APP, "a")["Address"] == "a@example.com"
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert not pidfile.exists()
    assert "UpdateEndpointsBatch /v1/apps/test-app/endpoints -> 202 items=2" in err


def test_the_server_stops_on_exit_even_with_keep_alive_clients(tmp_path):
    with SandboxServer(tmp_path / "p.db") as sandbox:
        client = make_client(sandbox.endpoint_url)
        put(client, [email_item("a")])  # leaves a kept-alive connection open
        port = int(sandbox.endpoint_url.rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with pytest.raises(Exception):  # noqa: B017 - any connection error: the server is gone
        client.get_endpoint(ApplicationId=APP, EndpointId="a")
