"""Run the project's dbt (its own virtualenv, .venv-dbt) from the tests, offline and without telemetry.

Every dbt test goes through `run_dbt`, so they all use the same executable, profile folder and environment,
and write targets and logs into the test's temporary folder instead of dbt_project/target.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT_DIR = REPO_ROOT / "dbt_project"
DBT_BIN = REPO_ROOT / ".venv-dbt" / "bin"
DBT = DBT_BIN / "dbt"
DBT_TIMEOUT_SECONDS = 300


def run_dbt(args: list[str], env_extra: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    """Run `dbt <args>` in dbt_project/ with the project's profiles.yml; logs go to `tmp/logs`.

    Dummy AWS credentials let the athena target compile offline (botocore stops on missing ones).
    """
    env = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **env_extra,
    }
    command = [str(DBT), *args, "--profiles-dir", str(PROJECT_DIR), "--log-path", str(tmp / "logs")]
    return subprocess.run(
        command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=DBT_TIMEOUT_SECONDS
    )
