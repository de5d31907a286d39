"""Wait until a local port is listening (the sandbox came up), or check that it is free before starting one.

python -m engagement_warehouse.sandbox.wait --port 4579 --expect listening
"""

from __future__ import annotations

import argparse
import socket
import sys
import time


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--expect", choices=("listening", "free"), required=True)
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args(argv)
    if args.expect == "free":
        if is_listening(args.port):
            print(f"port {args.port} is taken by another process: stop it, or use SANDBOX_PORT=<free port>")
            return 1
        return 0
    deadline = time.monotonic() + args.timeout
    while not is_listening(args.port):
        if time.monotonic() > deadline:
            print(f"nothing listens on 127.0.0.1:{args.port} after {args.timeout:.0f}s")
            return 1
        time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
