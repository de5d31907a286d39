"""Airflow as operators run it, started by a test: a metadata database in PostgreSQL, the LocalExecutor, and the
api-server, scheduler, dag-processor and triggerer as separate processes, all listening on 127.0.0.1 only.

The test drives it the way an operator does, through the REST API (`/api/v2`): unpause DAGs, trigger runs,
create backfills, read run states. `kill()` ends a component and every process it started with SIGKILL, as a
crashed host would; `start()` brings it back.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import psycopg

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# The server `.ci/run` starts (trust auth, user postgres); override to point the test elsewhere.
POSTGRES_URL = os.environ.get("EWH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_problem() -> str | None:
    """Why the PostgreSQL server cannot be used, or None when it can."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return (
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({error}). Start it (`.ci/run` does: "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set EWH_TEST_POSTGRES_URL."
        )


class AirflowStack:
    """One Airflow deployment in `root`, with its own PostgreSQL database (dropped by `close()`)."""

    def __init__(self, root: Path, project_env: dict[str, str], parallelism: int = 4) -> None:
        self.root = root
        self.database = f"ewh_it_{uuid.uuid4().hex[:10]}"
        self.api_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.logs = root / "component-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        server = POSTGRES_URL.rsplit("/", 1)[0]
        self.env = {
            **os.environ,
            **project_env,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(REPO_ROOT / "plugins"),
            "AIRFLOW_HOME": str(root / "airflow"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{server.replace('postgresql://', 'postgresql+psycopg://')}/"
            f"{self.database}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__COSMOS__CACHE_DIR": str(root / "cosmos_cache"),
            "GX_ANALYTICS_ENABLED": "false",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            # Short timers, so that a crash is noticed and retried within seconds instead of minutes.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "10",
            "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "3",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.http = httpx.Client(base_url=f"{self.base_url}/api/v2", timeout=30.0)

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    def create(self) -> None:
        """Create the metadata database, migrate it, and start every component."""
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'create database "{self.database}"')
        self.airflow("db", "migrate")
        for component in COMPONENTS:
            self.start(component)
        self.wait_for(self._api_healthy, 90, "the api-server to answer /api/v2/monitor/health")

    def airflow(self, *args: str) -> str:
        """Run an `airflow` CLI command to completion; its output on failure."""
        done = subprocess.run(
            [str(VENV_BIN / "airflow"), *args], env=self.env, cwd=self.root, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def start(self, component: str) -> None:
        """Start one component in its own session, logging to component-logs/<component>.log."""
        args = [str(VENV_BIN / "airflow"), component]
        if component == "api-server":
            args += ["--host", "127.0.0.1", "--port", str(self.api_port)]
        else:
            # Their log servers would listen on every interface; the api-server reads the local log files.
            args += ["--skip-serve-logs"] if component in ("scheduler", "triggerer") else []
        log = (self.logs / f"{component}.log").open("ab")
        self.processes[component] = subprocess.Popen(
            args, env=self.env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def kill(self, component: str) -> int:
        """SIGKILL a component and every process it started (its LocalExecutor workers and their tasks)."""
        return self._stop(component, graceful=False)

    def close(self) -> None:
        """Stop every component (SIGTERM, then SIGKILL after 15 s) and drop the database."""
        self.http.close()
        for component in list(self.processes):
            self._stop(component, graceful=True)
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{self.database}" with (force)')

    def _stop(self, component: str, graceful: bool) -> int:
        """End a component's process tree; returns how many processes it had."""
        process = self.processes.pop(component)
        tree: list[psutil.Process] = []
        with contextlib.suppress(psutil.NoSuchProcess):
            tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
        for member in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                if graceful:
                    member.terminate()  # SIGTERM: each component shuts down cleanly
                else:
                    member.kill()  # SIGKILL: as a crashed host
        _, alive = psutil.wait_procs(tree, timeout=15)
        for member in alive:
            member.kill()
        process.wait(timeout=10)
        return len(tree)

    def log_tail(self, lines: int = 40) -> str:
        """The end of every component's log (for assertion messages)."""
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()
            parts.append(f"---- {path.name}\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    # ---- REST API ------------------------------------------------------------------------------------------------
    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.request(method, path, json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else {}

    def _api_healthy(self) -> bool:
        try:
            health = self.http.get("/monitor/health").json()
        except (httpx.HTTPError, ValueError):
            return False
        return health.get("metadatabase", {}).get("status") == "healthy"

    def dag_ids(self) -> set[str]:
        return {dag["dag_id"] for dag in self.api("GET", "/dags?limit=100")["dags"]}

    def import_errors(self) -> list[dict[str, Any]]:
        return self.api("GET", "/importErrors")["import_errors"]

    def set_pool(self, name: str, slots: int, include_deferred: bool = False) -> None:
        body = {"name": name, "slots": slots, "include_deferred": include_deferred}
        try:
            self.api("POST", "/pools", body)
        except RuntimeError:
            self.api("PATCH", f"/pools/{name}", body)

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        return self.api("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]

    def backfill(self, dag_id: str, from_date: str, to_date: str, reprocess: str = "none") -> int:
        body = {
            "dag_id": dag_id,
            "from_date": f"{from_date}T00:00:00Z",
            "to_date": f"{to_date}T00:00:00Z",
            "reprocess_behavior": reprocess,
            "max_active_runs": 1,
        }
        return int(self.api("POST", "/backfills", body)["id"])

    def backfill_done(self, backfill_id: int) -> bool:
        return self.api("GET", f"/backfills/{backfill_id}").get("completed_at") is not None

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        """The DAG's runs, oldest first."""
        return self.api("GET", f"/dags/{dag_id}/dagRuns?order_by=run_after&limit=100")["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=200")["task_instances"]

    # ---- waiting -------------------------------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], T], timeout: float, what: str, poll: float = 1.0) -> T:
        """Poll `predicate` until it returns something truthy; fail with the components' logs after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            for component, process in self.processes.items():
                if process.poll() is not None:
                    raise AssertionError(f"{component} exited ({process.returncode})\n{self.log_tail()}")
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.log_tail()}")
            time.sleep(poll)

    def wait_for_runs(self, dag_id: str, count: int, timeout: float) -> list[dict[str, Any]]:
        """Wait until the DAG has `count` runs, all finished; return them (oldest first)."""

        def finished() -> list[dict[str, Any]] | None:
            runs = self.dag_runs(dag_id)
            done = [run for run in runs if run["state"] in ("success", "failed")]
            return runs if len(runs) >= count and len(done) == len(runs) else None

        return self.wait_for(finished, timeout, f"{count} finished run(s) of {dag_id}", poll=2.0)
