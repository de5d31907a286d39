"""sqlfluff (dbt templater, dbt_project/.sqlfluff) lints every model: lowercase SQL, trailing commas, layout.

The dbt templater renders each model as dbt would (refs, vars, project macros, is_incremental()), against the
duckdb target and an empty temporary DuckDB file, so no warehouse is needed. Skipped when sqlfluff is not
installed in .venv-dbt.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from .dbt_cli import DBT_BIN, DBT_TIMEOUT_SECONDS, PROJECT_DIR

SQLFLUFF = DBT_BIN / "sqlfluff"

pytestmark = pytest.mark.skipif(not SQLFLUFF.exists(), reason="sqlfluff is not installed in .venv-dbt")


def test_models_pass_sqlfluff(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "EWH_TARGET": "duckdb",
        "EWH_DUCKDB_PATH": str(tmp_path / "lint.duckdb"),
        # the templater runs dbt: keep its partial parse and logs out of dbt_project/ (cosmos's manifest lives there)
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    result = subprocess.run(
        [str(SQLFLUFF), "lint", "models", "--format", "json", "--processes", "2", "--nofail"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=DBT_TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout)
    linted = {Path(entry["filepath"]).as_posix() for entry in report}
    models = {path.relative_to(PROJECT_DIR).as_posix() for path in (PROJECT_DIR / "models").rglob("*.sql")}
    assert linted == models, f"not linted: {sorted(models - linted)}"
    violations = [
        f"{entry['filepath']}:{violation['start_line_no']}: {violation['code']} {violation['description']}"
        for entry in report
        for violation in entry["violations"]
    ]
    assert not violations, "sqlfluff (run `sqlfluff lint models` in dbt_project/):\n" + "\n".join(violations)
