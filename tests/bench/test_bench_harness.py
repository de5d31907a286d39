"""`make bench`'s harness runs end to end at the hidden `tiny` scale and writes every figure to results.json.

No timing assertions: the figures are checked for presence and consistency, never for speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "bench" / "run.py"
FIGURES = {
    "clickstream_events",
    "landing_events",
    "landing_seconds",
    "landing_events_per_second",
    "register_seconds",
    "dbt_full_build_seconds",
    "dbt_incremental_build_seconds",
    "increment_landing_events",
    "increment_landing_events_per_second",
    "diff_seconds",
    "diff_endpoints_desired",
    "diff_endpoints_changed",
    "export_calls",
    "export_calls_per_second",
    "export_calls_when_unchanged",
    "peak_rss_mb",
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    tmp = tmp_path_factory.mktemp("bench")
    output = tmp / "results.json"
    result = subprocess.run(
        [sys.executable, str(HARNESS), "--scale", "tiny", "--output", str(output), "--workdir", str(tmp / "work")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(output.read_text()), result.stdout


def test_results_json_has_every_figure(tiny_run: tuple[dict, str]) -> None:
    results, _ = tiny_run
    assert results["scale"] == "tiny"
    assert results["figures"].keys() >= FIGURES
    assert results["machine"]["nproc"] >= 1 and results["machine"]["cpu_count"] >= 1
    assert results["timestamp"] and "commit" in results["git"]
    figures = results["figures"]
    # Consistency, not speed: what was landed is what the generator wrote for those days, and the diff saw
    # every endpoint of the export model as new (an empty sync state).
    assert figures["landing_events"] > 0 and figures["landing_events_per_second"] > 0
    assert figures["clickstream_events"] > 0
    assert figures["increment_landing_events"] > 0
    assert 0 < figures["diff_endpoints_changed"] == figures["diff_endpoints_desired"]
    assert figures["peak_rss_mb"] > 0
    for name in ("land", "register", "dbt_full", "diff", "dbt_incremental"):
        assert results["stages"][name]["peak_rss_mb"] > 0, name
    assert results["stages"]["dbt_full"]["nodes"].get("error", 0) == 0
    export = results["stages"]["export"]
    if "skipped" not in export:  # engagement_warehouse.destinations.bench is present
        assert figures["export_calls"] > 0 and figures["export_calls_when_unchanged"] == 0


def test_landed_rows_reconcile_with_the_generator(tiny_run: tuple[dict, str]) -> None:
    results, _ = tiny_run
    written = results["stages"]["generate"]["events"]
    landed = results["figures"]["landing_events"] + results["figures"]["increment_landing_events"]
    assert landed == written


def test_prints_one_table(tiny_run: tuple[dict, str]) -> None:
    _, stdout = tiny_run
    header = [line for line in stdout.splitlines() if line.startswith("stage")]
    assert len(header) == 1
    for stage in ("land", "dbt_full", "diff", "export", "dbt_incremental"):
        assert any(line.startswith(stage + " ") for line in stdout.splitlines()), stage
