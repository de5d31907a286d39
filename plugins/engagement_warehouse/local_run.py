"""Run the whole pipeline locally, one `airflow dags test` per DAG, in the order the assets chain them.

`airflow dags test` runs no scheduler, so asset-triggered DAGs are not started by it: this runner chains them
explicitly, passing the same `as_of` day to each. Used by `make run` (tested by tests/test_local_run.py).

    python -m engagement_warehouse.local_run --as-of 2026-11-22
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

PIPELINE = ["ingest_clickstream", "ingest_engagement", "ingest_partner", "build_marts", "export_pinpoint"]


def run_dag(dag_id: str, as_of: date, conf: dict[str, object], log_dir: Path) -> float:
    """`airflow dags test` one DAG for the day `as_of`; raises with the log's tail if the run fails."""
    logical_date = (as_of + timedelta(days=1)).isoformat()  # a daily interval [as_of, as_of + 1 day)
    airflow = str(Path(sys.executable).with_name("airflow"))  # the venv's own CLI, whatever PATH says
    command = [
        airflow,
        "dags",
        "test",
        dag_id,
        logical_date,
        "--conf",
        json.dumps({"as_of": as_of.isoformat(), **conf}),
    ]
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{dag_id}.log"
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log:
        completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(), check=False)
    elapsed = time.monotonic() - started
    text = log_path.read_text(encoding="utf-8", errors="replace")
    succeeded = completed.returncode == 0 and "state=success" in text and "state=failed" not in text
    if not succeeded:
        tail = "\n".join(text.splitlines()[-40:])
        raise SystemExit(f"{dag_id} failed after {elapsed:.0f}s (log: {log_path}):\n{tail}")
    print(f"  {dag_id:<20} ok  {elapsed:5.1f}s  (log: {log_path})", flush=True)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--as-of", type=date.fromisoformat, required=True, help="the day to run (YYYY-MM-DD)")
    parser.add_argument("--dags", nargs="*", default=PIPELINE, help="DAG ids to run, in order")
    parser.add_argument("--dry-run", action="store_true", help="export_pinpoint plans and previews, no API call")
    parser.add_argument("--log-dir", type=Path, default=Path(".local/logs/dags"))
    args = parser.parse_args(argv)
    print(f"running {len(args.dags)} DAGs for as_of={args.as_of}", flush=True)
    total = 0.0
    for dag_id in args.dags:
        conf: dict[str, object] = {"dry_run": True} if args.dry_run and dag_id == "export_pinpoint" else {}
        total += run_dag(dag_id, args.as_of, conf, args.log_dir)
    print(f"all DAGs succeeded in {total:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
