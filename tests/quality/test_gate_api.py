"""run_gate's contract: errors for wrong calls, Data Docs location, the summary, lazy GX import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from engagement_warehouse.quality.context import load_context, runtime_environment
from engagement_warehouse.quality.gate import GateConfigurationError, run_gate, severity_of

from .conftest import REPO_ROOT
from .test_gate_export import endpoints, marts


def test_missing_batch_is_a_clear_error(gx_context):
    batches = marts()
    del batches["export_segments"]
    with pytest.raises(GateConfigurationError, match=r"missing batches for \['export_segments'\]"):
        run_gate("build_marts", batches, "pytest", context=gx_context)


def test_unexpected_batch_is_an_error(gx_context):
    batches = {**marts(), "export_segmentz": pd.DataFrame()}
    with pytest.raises(GateConfigurationError, match="unexpected batches"):
        run_gate("build_marts", batches, "pytest", context=gx_context)


def test_unknown_checkpoint_is_an_error(gx_context):
    with pytest.raises(GateConfigurationError, match="unknown checkpoint 'build_mart'"):
        run_gate("build_mart", marts(), "pytest", context=gx_context)


def test_batch_must_be_a_dataframe(gx_context):
    batches = {**marts(), "export_segments": [{"endpoint_id": "e1"}]}
    with pytest.raises(GateConfigurationError, match="must be a pandas DataFrame"):
        run_gate("build_marts", batches, "pytest", context=gx_context)


def test_data_docs_go_to_the_directory_named_by_the_env_var(gx_dirs, tmp_path, monkeypatch):
    docs = tmp_path / "site"
    monkeypatch.setenv("EWH_DATA_DOCS_DIR", str(docs))
    monkeypatch.setenv("EWH_GX_RESULTS_DIR", str(tmp_path / "results"))
    bad = endpoints()
    bad.loc[1, "opt_out"] = "ALL"

    result = run_gate("build_marts", marts(attributes=bad), "scheduled__2026-11-01", root=gx_dirs["root"])

    assert (docs / "index.html").is_file()
    assert result.data_docs_index == (docs / "index.html").as_uri()
    [failure] = result.failures
    assert failure.data_docs_url and failure.data_docs_url.startswith(docs.as_uri())
    page = Path(failure.data_docs_url.removeprefix("file://"))
    assert page.is_file() and "scheduled__2026-11-01" in str(page)
    assert "opt_out" in page.read_text(encoding="utf-8")
    assert any((tmp_path / "results").rglob("*.json"))  # the validation result was stored there


def test_summary_names_check_asset_count_sample_and_docs(gate):
    bad = endpoints()
    bad.loc[2, "address"] = "+12065550100"  # duplicate of e2's address
    result = gate("build_marts", marts(attributes=bad), build_docs=True)
    text = result.summary()
    assert text.startswith("Quality gate 'build_marts' (run pytest) FAILED: 1 blocking failure(s)")
    assert "FAIL export_endpoint_segment_attributes" in text
    assert "no address is shared by two endpoint ids" in text
    assert "expect_column_values_to_be_unique(column='address')" in text
    assert "2 failing row(s) of 3" in text
    assert "'+12065550100'" in text
    assert "docs: file://" in text and "Data Docs: file://" in text
    assert "Downstream tasks are blocked" in text


def test_to_dict_is_json_serialisable(gate):
    bad = endpoints()
    bad["lifetime_revenue"] = bad["lifetime_revenue"].astype("object")
    bad.loc[0, "lifetime_revenue"] = "lots"
    payload = gate("build_marts", marts(attributes=bad)).to_dict()
    decoded = json.loads(json.dumps(payload))
    assert decoded["passed"] is False
    assert decoded["checks_failed"] == 1 and decoded["warnings"] == 0
    assert decoded["checks_passed"] == decoded["checks_run"] - 1
    assert decoded["failed_checks"][0]["sample"] == ["lots"]
    assert decoded["failed_checks"][0]["check"].startswith("expect_column_values_to_be_in_type_list(")


def test_passing_summary_lists_warnings_without_blocking(gate):
    result = gate("build_marts", marts())
    assert result.passed
    assert "PASSED: 0 blocking failure(s), 0 warning(s)" in result.summary()
    assert "blocked" not in result.summary()


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"severity": "warn"}, "warn"),
        ({"severity": "WARN"}, "warn"),
        ({}, "fail"),
        (None, "fail"),
        ({"severity": "wran"}, "fail"),
    ],
)
def test_missing_or_unknown_severity_means_fail(meta, expected):
    assert severity_of(meta) == expected


def test_explicit_paths_win_over_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EWH_DATA_DOCS_DIR", "/from/env")
    monkeypatch.delenv("EWH_GX_RESULTS_DIR", raising=False)
    env = runtime_environment(data_docs_dir=None, results_dir=tmp_path)
    assert "EWH_DATA_DOCS_DIR" not in env  # left to the environment variable
    assert env["EWH_GX_RESULTS_DIR"] == str(tmp_path)
    assert runtime_environment(data_docs_dir=tmp_path)["EWH_DATA_DOCS_DIR"] == str(tmp_path)


def test_missing_context_is_reported_not_scaffolded(tmp_path):
    with pytest.raises(FileNotFoundError, match="bootstrap"):
        load_context(tmp_path)
    assert not (tmp_path / "gx").exists()


def test_importing_the_package_does_not_import_great_expectations():
    code = (
        "import sys, engagement_warehouse.quality as q, engagement_warehouse.quality.gate, "
        "engagement_warehouse.quality.derive, engagement_warehouse.quality.circuit_breaker;"
        "print('great_expectations' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env={"PYTHONPATH": str(REPO_ROOT / "plugins"), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "False"
