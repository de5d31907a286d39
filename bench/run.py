"""`make bench`: the project's figures on generated data, as one table and bench/results.json.

    .venv/bin/python bench/run.py --scale small|medium|large [--output bench/results.json] [--workdir DIR]

Stages, each in its own subprocess so that its peak memory is its own (ru_maxrss of the stage process and of the
children it waited for, e.g. dbt):

1. generate   the sample data (`engagement_warehouse.sample_data.generate`): DAYS days to END_DATE;
2. land       every source up to the day before END_DATE (`landing.land_source`): the landing events/s figure;
3. register   the staged data in DuckDB (`warehouse.duckdb.DuckDBLoader`);
4. dbt_full   `dbt build --target duckdb` from .venv-dbt on an empty warehouse;
5. diff       the export diff (`destinations.state.build_endpoint_plan`) against an empty sync state;
6. export     `destinations.bench.run_export_bench(...)` when that module exists (else n/a): its own scratch
              model (1M endpoints, 1 % changed; a smoke size at `tiny`), diff time, requests and achieved rate
              against an in-process sandbox at Pinpoint's quota;
7. land_increment, register_increment, dbt_incremental: END_DATE's data, as the next daily run lands and
   builds it (the loader replaces only the staged partitions the increment touched; incremental models add
   one day).

Everything is written under --workdir (a fresh temporary folder by default, deleted afterwards unless --keep):
never under the repository's .local/ or dbt_project/target/. Timings cover the work only, not interpreter start-up.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "bench" / "results.json"
END_DATE = date(2026, 11, 22)
SEED = 7
DAYS = 90


@dataclass(frozen=True)
class Scale:
    """How much data one scale generates: `users` over DAYS days (about 265 clickstream events per user)."""

    users: int
    days: int = DAYS
    clickstream_target: int = 0  # the clickstream events the scale is meant to produce (documentation)


SCALES: dict[str, Scale] = {
    "tiny": Scale(users=25, days=3, clickstream_target=1_000),  # the test's scale (hidden from --help)
    "small": Scale(users=380, clickstream_target=100_000),
    "medium": Scale(users=3_800, clickstream_target=1_000_000),
    "large": Scale(users=38_000, clickstream_target=10_000_000),
}
STAGES = (
    "generate",
    "land",
    "register",
    "dbt_full",
    "diff",
    "export",
    "land_increment",
    "register_increment",
    "dbt_incremental",
)


# ---- stages (run in a child process: `bench/run.py _stage NAME ...`) --------------------------------------------


def _peak_rss_mb() -> float:
    """The peak resident set of this process and of the children it has waited for, in MiB (Linux: KiB units)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def _days(scale: Scale) -> tuple[date, date]:
    """(the day the full build covers, the increment's day)."""
    return END_DATE - timedelta(days=1), END_DATE


def _stage_generate(scale: Scale, workdir: Path, increment: bool) -> dict[str, Any]:
    from engagement_warehouse.sample_data import generate

    started = time.perf_counter()
    summary = generate(_lake_url(workdir), scale.users, scale.days, SEED, END_DATE)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows_written": summary.rows,
        "events": sum(summary.rows.values()),
        "bytes_written": summary.bytes_written,
    }


def _stage_land(scale: Scale, workdir: Path, increment: bool) -> dict[str, Any]:
    from engagement_warehouse.lake import Lake
    from engagement_warehouse.landing import land_source
    from engagement_warehouse.orchestration import interval_end
    from engagement_warehouse.sources import all_sources

    day = _days(scale)[1 if increment else 0]
    lake = Lake(_lake_url(workdir))
    rows_in: dict[str, int] = {}
    staged: dict[str, int] = {}
    partitions: dict[str, list[str]] = {}
    started = time.perf_counter()
    for source in all_sources():
        manifest = land_source(
            lake,
            source,
            run_id=f"bench-{day.isoformat()}",
            logical_date=day,
            until=interval_end(day),
            workers=os.cpu_count() or 1,
        )
        rows_in[source.name] = manifest.rows_in
        staged[source.name] = manifest.rows_staged
        partitions[source.name] = manifest.staged_partitions
    seconds = time.perf_counter() - started
    total = sum(rows_in.values())
    return {
        "seconds": seconds,
        "rows_in": rows_in,
        "rows_staged": staged,
        "staged_partitions": partitions,
        "events": total,
        "events_per_second": total / seconds if seconds else None,
    }


def _stage_register(scale: Scale, workdir: Path, increment: bool) -> dict[str, Any]:
    from engagement_warehouse.lake import Lake
    from engagement_warehouse.sources import all_sources
    from engagement_warehouse.warehouse.duckdb import DuckDBLoader

    lake = Lake(_lake_url(workdir))
    loader = DuckDBLoader(workdir / "warehouse.duckdb")
    # The increment registers what its landing run touched, as `tasks.register_sources` does; the first
    # registration (an empty warehouse) loads everything staged.
    touched: dict[str, list[str]] | None = None
    landed = workdir / "stages" / "land_increment.json"
    if increment and landed.exists():
        touched = json.loads(landed.read_text()).get("staged_partitions")
    started = time.perf_counter()
    counts = {
        source.table: loader.register(lake, source, None if touched is None else touched.get(source.name, []))
        for source in all_sources()
    }
    return {"seconds": time.perf_counter() - started, "rows": counts, "events": sum(counts.values())}


def _stage_dbt(scale: Scale, workdir: Path, increment: bool) -> dict[str, Any]:
    from engagement_warehouse.settings import get_settings

    settings = get_settings()
    if not settings.dbt_executable.exists():
        return {"skipped": f"no dbt at {settings.dbt_executable} (make install)"}
    day = _days(scale)[1 if increment else 0]
    command = [
        str(settings.dbt_executable),
        "build",
        "--target",
        "duckdb",
        "--vars",
        json.dumps({"as_of": day.isoformat()}),
        "--target-path",
        str(workdir / "dbt_target"),
        "--log-path",
        str(workdir / "dbt_logs"),
        "--profiles-dir",
        str(settings.dbt_project_dir),
        "--quiet",
    ]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=settings.dbt_project_dir, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    run_results = workdir / "dbt_target" / "run_results.json"
    statuses: dict[str, int] = {}
    if run_results.exists():
        for node in json.loads(run_results.read_text())["results"]:
            statuses[node["status"]] = statuses.get(node["status"], 0) + 1
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise RuntimeError(f"dbt build failed ({statuses}):\n" + "\n".join(tail))
    return {"seconds": seconds, "nodes": statuses}


def _stage_diff(scale: Scale, workdir: Path, increment: bool) -> dict[str, Any]:
    from engagement_warehouse.destinations.export_contract import find_export_contract, load_manifest
    from engagement_warehouse.destinations.pinpoint.sync import destination_name
    from engagement_warehouse.destinations.state import build_endpoint_plan
    from engagement_warehouse.settings import get_settings
    from engagement_warehouse.warehouse.duckdb import connect

    manifest = workdir / "dbt_target" / "manifest.json"
    if not manifest.exists():
        return {"skipped": "no dbt build"}
    contract = find_export_contract(load_manifest(manifest))
    with connect(workdir / "warehouse.duckdb") as conn:
        started = time.perf_counter()
        plan = build_endpoint_plan(conn, contract, destination_name(get_settings().pinpoint_application_id))
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "desired": plan.desired, "changed": plan.changed}


def _stage_export(scale: Scale, workdir: Path, increment: bool) -> dict[str, Any]:
    try:
        from engagement_warehouse.destinations.bench import run_export_bench
    except ImportError as exc:
        return {"skipped": f"engagement_warehouse.destinations.bench is not available ({exc})"}
    # Pass what the export benchmark asks for, by name, from what this run has.
    available = {
        "duckdb_path": workdir / "warehouse.duckdb",
        "manifest_path": workdir / "dbt_target" / "manifest.json",
        "lake_url": _lake_url(workdir),
        "workdir": workdir / "export",
        "as_of": _days(scale)[0],
        "logical_date": _days(scale)[0],
        "scale": scale,
        "users": scale.users,
    }
    parameters = inspect.signature(run_export_bench).parameters
    kwargs = {name: available[name] for name in parameters if name in available}
    started = time.perf_counter()
    result = run_export_bench(**kwargs)
    seconds = time.perf_counter() - started
    figures = result if isinstance(result, dict) else getattr(result, "__dict__", {"result": repr(result)})
    return {"seconds": seconds, **{k: v for k, v in figures.items() if k != "seconds"}}


STAGE_FUNCTIONS = {
    "generate": (_stage_generate, False),
    "land": (_stage_land, False),
    "register": (_stage_register, False),
    "dbt_full": (_stage_dbt, False),
    "diff": (_stage_diff, False),
    "export": (_stage_export, False),
    "land_increment": (_stage_land, True),
    "register_increment": (_stage_register, True),
    "dbt_incremental": (_stage_dbt, True),
}


def _lake_url(workdir: Path) -> str:
    return (workdir / "lake").as_uri()


def run_stage(name: str, scale_name: str, workdir: Path) -> None:
    """Child-process entry point: run one stage and write its figures to `<workdir>/stages/<name>.json`."""
    function, increment = STAGE_FUNCTIONS[name]
    figures = function(SCALES[scale_name], workdir, increment)
    figures["peak_rss_mb"] = _peak_rss_mb()
    out = workdir / "stages" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, default=str))


# ---- the parent: environment, subprocesses, the table and results.json ------------------------------------------


def stage_environment(workdir: Path) -> dict[str, str]:
    """The child's environment: everything under `workdir`, telemetry off, the repository's package importable."""
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(REPO / "plugins"),
            # The landing stage imports Airflow (orchestration.interval_end): keep its home in the workdir.
            "AIRFLOW_HOME": str(workdir / "airflow"),
            "EWH_LOCAL_DIR": str(workdir),
            "EWH_LAKE_URL": _lake_url(workdir),
            "EWH_TARGET": "duckdb",
            "EWH_DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
            "EWH_DATA_DOCS_DIR": str(workdir / "data_docs"),
            "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "GX_ANALYTICS_ENABLED": "false",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            # dbt uses every core, as a production run would (profiles.yml defaults to 1 thread).
            "EWH_DBT_THREADS": os.environ.get("EWH_DBT_THREADS", str(_nproc())),
        }
    )
    env.pop("EWH_S3_ENDPOINT_URL", None)
    return env


def _nproc() -> int:
    """The cores this process may use (what `nproc` prints)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _machine() -> dict[str, Any]:
    """What the figures were measured on: cores, CPU, memory, Python and key library versions."""
    cpu_model = None
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu_model = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            None,
        )
    mem_total_mb = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total_mb = int(line.split()[1]) // 1024
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("duckdb", "pyarrow", "boto3"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "nproc": _nproc(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "mem_total_mb": mem_total_mb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def _git() -> dict[str, Any]:
    """The commit measured, and whether the tree had uncommitted changes (read-only git commands)."""

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def _rate(count: float | None, seconds: float | None) -> float | None:
    return count / seconds if count and seconds else None


def summarise(stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The headline figures the issues ask for, from the per-stage results (None = not measured)."""

    def get(stage: str, key: str) -> Any:
        return stages.get(stage, {}).get(key)

    export = stages.get("export", {})
    export_calls = export.get("calls", export.get("requests"))
    return {
        "clickstream_events": (get("generate", "rows_written") or {}).get("clickstream"),
        "landing_events": get("land", "events"),
        "landing_seconds": get("land", "seconds"),
        "landing_events_per_second": get("land", "events_per_second"),
        "register_seconds": get("register", "seconds"),
        "dbt_full_build_seconds": get("dbt_full", "seconds"),
        "dbt_incremental_build_seconds": get("dbt_incremental", "seconds"),
        "increment_landing_events": get("land_increment", "events"),
        "increment_landing_events_per_second": get("land_increment", "events_per_second"),
        "diff_seconds": get("diff", "seconds"),
        "diff_endpoints_desired": get("diff", "desired"),
        "diff_endpoints_changed": get("diff", "changed"),
        "export_calls": export_calls,
        "export_calls_per_second": export.get("calls_per_second") or _rate(export_calls, export.get("seconds")),
        "export_calls_when_unchanged": export.get("calls_when_unchanged"),
        "export_diff_endpoints": export.get("n_endpoints"),
        "export_diff_seconds": export.get("diff_seconds"),
        "peak_rss_mb": max((s.get("peak_rss_mb") or 0 for s in stages.values()), default=None) or None,
    }


def render_table(results: dict[str, Any]) -> str:
    """One table: a row per stage (time, throughput, peak memory), then the machine."""
    lines = [
        f"engagement-warehouse bench: scale {results['scale']} ({results['users']:,} users, {results['days']} days), "
        f"{results['machine']['nproc']} cores, commit {str(results['git']['commit'])[:12]}",
        f"{'stage':<20}{'seconds':>10}{'rows':>12}{'rows/s':>12}{'peak MiB':>10}  note",
    ]
    for name in STAGES:
        stage = results["stages"].get(name, {})
        rows = (
            stage.get("requests", stage.get("calls")) if name == "export" else stage.get("events", stage.get("changed"))
        )
        rate = stage.get("events_per_second") or stage.get("calls_per_second")
        note = stage.get("skipped") or stage.get("error") or ""
        if name == "diff" and "desired" in stage:
            note = f"{stage['changed']:,} of {stage['desired']:,} endpoints changed"
        if name == "export" and "n_endpoints" in stage:
            note = (
                f"requests at {stage.get('rate_per_second')}/s quota; diff of {stage['n_endpoints']:,} endpoints "
                f"({stage.get('changed', 0):,} changed) {stage.get('diff_seconds', 0):.2f} s; "
                f"calls when unchanged: {stage.get('calls_when_unchanged')}"
            )
        if name.startswith("dbt") and "nodes" in stage:
            note = ", ".join(f"{k}={v}" for k, v in sorted(stage["nodes"].items()))

        def cell(value: Any, width: int, fmt: str) -> str:
            return f"{value:>{width}{fmt}}" if isinstance(value, int | float) else f"{'n/a':>{width}}"

        lines.append(
            f"{name:<20}{cell(stage.get('seconds'), 10, ',.2f')}{cell(rows, 12, ',')}{cell(rate, 12, ',.0f')}"
            f"{cell(stage.get('peak_rss_mb'), 10, ',.0f')}  {note}"
        )
    return "\n".join(lines)


def run(scale_name: str, output: Path, workdir: Path | None = None, keep: bool = False) -> dict[str, Any]:
    """Run every stage at `scale_name`, print the table, write `output`; returns the results."""
    scale = SCALES[scale_name]
    own_workdir = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix=f"ewh-bench-{scale_name}-")) if workdir is None else workdir
    workdir.mkdir(parents=True, exist_ok=True)
    env = stage_environment(workdir)
    stages: dict[str, dict[str, Any]] = {}
    started_at = datetime.now(UTC)
    try:
        for name in STAGES:
            print(f"==> {name}", file=sys.stderr, flush=True)
            command = [sys.executable, str(Path(__file__).resolve()), "_stage", name, scale_name, str(workdir)]
            result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            out = workdir / "stages" / f"{name}.json"
            if result.returncode == 0 and out.exists():
                stages[name] = json.loads(out.read_text())
            else:
                tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
                stages[name] = {"error": f"exit {result.returncode}: " + " | ".join(tail)}
    finally:
        if own_workdir and not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results = {
        "scale": scale_name,
        "users": scale.users,
        "days": scale.days,
        "seed": SEED,
        "end_date": END_DATE.isoformat(),
        "timestamp": started_at.isoformat(timespec="seconds"),
        "wall_seconds": round((datetime.now(UTC) - started_at).total_seconds(), 1),
        "dbt_threads": int(env["EWH_DBT_THREADS"]),
        "machine": _machine(),
        "git": _git(),
        "figures": summarise(stages),
        "stages": stages,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(render_table(results))
    print(f"results: {output}")
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line: `--scale`, `--output`, `--workdir`, `--keep`; exits 1 if any stage failed."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_stage"]:
        name, scale_name, workdir = argv[1:4]
        run_stage(name, scale_name, Path(workdir))
        return 0
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="small", choices=list(SCALES), metavar="{small,medium,large}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON (default bench/results.json)")
    parser.add_argument("--workdir", type=Path, help="where data goes (default: a temporary folder, then deleted)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workdir")
    args = parser.parse_args(argv)
    results = run(args.scale, args.output, args.workdir, args.keep)
    return 1 if any("error" in stage for stage in results["stages"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
