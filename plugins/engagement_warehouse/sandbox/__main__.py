"""Run the Pinpoint sandbox in the foreground: `python -m engagement_warehouse.sandbox --db PATH`.

Logs one line per Pinpoint request (operation, status, items). Refuses non-loopback hosts. With
`--pidfile`, writes the process id there and removes it on exit (SIGTERM or Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from engagement_warehouse.sandbox.faults import FaultConfig
from engagement_warehouse.sandbox.server import SandboxServer


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m engagement_warehouse.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow a non-loopback --host: only inside a private container network (the sandbox has no auth)",
    )
    parser.add_argument("--port", type=int, default=4579, help="port (0 = any free port; default 4579)")
    parser.add_argument("--db", required=True, type=Path, help="SQLite file holding the sandbox state")
    parser.add_argument("--pidfile", type=Path, help="write the process id to this file")
    parser.add_argument("--max-concurrent-import-jobs", type=int, default=2)
    parser.add_argument(
        "--job-step-seconds",
        type=float,
        default=None,
        help="advance jobs by elapsed time (default: one state per GetImportJob/GetExportJob call)",
    )
    parser.add_argument("--faults", help="FaultConfig as JSON text, or @file.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    faults = None
    if args.faults:
        text = Path(args.faults[1:]).read_text() if args.faults.startswith("@") else args.faults
        faults = FaultConfig.from_dict(json.loads(text))
    try:
        server = SandboxServer(
            args.db,
            host=args.host,
            port=args.port,
            allow_non_loopback=args.allow_non_loopback,
            faults=faults,
            max_concurrent_import_jobs=args.max_concurrent_import_jobs,
            job_step_seconds=args.job_step_seconds,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    if args.pidfile:
        args.pidfile.parent.mkdir(parents=True, exist_ok=True)
        args.pidfile.write_text(f"{os.getpid()}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if args.pidfile:
            args.pidfile.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
