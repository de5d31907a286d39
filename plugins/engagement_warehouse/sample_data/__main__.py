"""CLI: `python -m engagement_warehouse.sample_data --lake-url URL --users N --days D --seed S`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import date

from engagement_warehouse.sample_data.generator import (
    DEFAULT_END_DATE,
    DEFAULT_MAX_LINES_PER_OBJECT,
    generate,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, generate, print the summary (text, or JSON with --json). Returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m engagement_warehouse.sample_data",
        description="Write deterministic sample clickstream, Pinpoint and partner data into the lake's raw/.",
    )
    parser.add_argument("--lake-url", help="file:///abs/path or s3://bucket/prefix (default: EWH_LAKE_URL)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end-date", type=date.fromisoformat, default=DEFAULT_END_DATE, help="YYYY-MM-DD")
    parser.add_argument("--max-lines-per-object", type=int, default=DEFAULT_MAX_LINES_PER_OBJECT)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    lake_url = args.lake_url
    if not lake_url:
        from engagement_warehouse.settings import get_settings

        lake_url = get_settings().lake_url
    started = time.perf_counter()
    summary = generate(
        lake_url,
        args.users,
        args.days,
        args.seed,
        args.end_date,
        max_lines_per_object=args.max_lines_per_object,
    )
    elapsed = time.perf_counter() - started
    if args.json:
        print(summary.to_json())
    else:
        print(summary.render())
        rows = summary.rows["clickstream"]
        print(f"took {elapsed:.1f} s ({rows / max(elapsed, 1e-9):,.0f} clickstream rows/s overall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
