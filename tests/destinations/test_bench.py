"""The export benchmark's figures on a tiny model (consistency only: no timing assertions)."""

from pathlib import Path

import pytest

from engagement_warehouse.destinations.bench import run_export_bench

pytest.importorskip("engagement_warehouse.sandbox")


def test_export_bench_figures_are_consistent(tmp_path: Path):
    figures = run_export_bench(3000, 0.1, 1000.0, tmp_path, max_requests=2)
    assert figures["desired"] == 3000
    assert 200 < figures["changed"] < 400  # about 10 % of 3000, chosen by hash
    assert figures["sync_limited"] is True
    assert figures["requests"] == figures["sandbox_accepted_requests"] == 2
    assert figures["endpoints_accepted"] == 200
    assert figures["requests_per_changed_endpoint"] == pytest.approx(0.01)
    assert figures["achieved_rate"] > 0 and figures["achieved_rate_fraction_of_quota"] > 0
    assert (figures["calls_when_unchanged"], figures["sandbox_calls_when_unchanged"]) == (0, 0)
    assert figures["planned_when_unchanged"] == 0
    assert figures["diff_seconds"] > 0 and figures["peak_rss_mb"] > 0


def test_export_bench_unlimited_send_sends_every_change(tmp_path: Path):
    figures = run_export_bench(500, 0.3, 1000.0, tmp_path, max_requests=None)
    assert figures["sync_limited"] is False
    assert figures["endpoints_accepted"] == figures["changed"]
    assert figures["requests"] == -(-figures["changed"] // 100)  # full batches of 100
    assert figures["calls_when_unchanged"] == 0


def test_bench_harness_call_at_the_tiny_scale_is_smoke_sized(tmp_path: Path):
    # bench/run.py passes only the names it has (workdir, users, ...): the tiny test scale stays small.
    figures = run_export_bench(workdir=tmp_path, users=25)
    assert (figures["n_endpoints"], figures["desired"], figures["requests"]) == (20_000, 20_000, 2)
    assert figures["rate_per_second"] == 2.0 and figures["calls_when_unchanged"] == 0
