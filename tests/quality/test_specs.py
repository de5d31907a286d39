"""The committed GX context matches the declared rules, and every rule has an explicit severity."""

from __future__ import annotations

import json

import pytest

from engagement_warehouse.quality import specs
from engagement_warehouse.quality.bootstrap import ensure_context

from .conftest import REPO_ROOT

GX_DIR = REPO_ROOT / "expectations" / "gx"


def test_committed_context_has_no_drift_from_specs(gx_dirs):
    assert ensure_context(gx_dirs["root"], dry_run=True) == []


def test_bootstrap_recreates_a_missing_suite_and_flags_drift(tmp_path):
    import shutil

    root = tmp_path / "expectations"
    shutil.copytree(REPO_ROOT / "expectations", root)
    (root / "gx" / "expectations" / "export_segments.json").unlink()
    suite_file = root / "gx" / "expectations" / "raw_clickstream_events.json"
    suite = json.loads(suite_file.read_text())
    suite["expectations"][0]["meta"]["severity"] = "warn"
    suite_file.write_text(json.dumps(suite))

    changes = [str(c) for c in ensure_context(root)]

    assert "create suite export_segments" in changes
    assert "drifted (not updated) suite raw_clickstream_events" in changes
    assert (root / "gx" / "expectations" / "export_segments.json").is_file()
    assert [str(c) for c in ensure_context(root, update=True)] == ["update suite raw_clickstream_events"]
    assert ensure_context(root, dry_run=True) == []


@pytest.mark.parametrize("path", sorted((GX_DIR / "expectations").glob("*.json")), ids=lambda p: p.stem)
def test_every_committed_expectation_declares_its_severity(path):
    suite = json.loads(path.read_text())
    assert suite["name"] == path.stem
    for expectation in suite["expectations"]:
        assert expectation["meta"]["severity"] in ("fail", "warn")
        assert expectation["severity"] == specs.GX_SEVERITY[expectation["meta"]["severity"]]
        assert expectation["description"]


def test_warn_rules_are_exactly_the_known_quirks_and_volume():
    warn = {
        (name, e["type"], e["kwargs"].get("column") or e["kwargs"].get("column_A"))
        for name, suite in specs.all_suites().items()
        for e in suite.expectations
        if e["meta"]["severity"] == "warn"
    }
    quirks = {
        ("raw_pinpoint_events", "expect_column_pair_values_a_to_be_greater_than_b", "arrival_at"),
        ("pinpoint_message_timeline", "expect_column_pair_values_a_to_be_greater_than_b", "first_open_at"),
        ("pinpoint_message_timeline", "expect_column_values_to_be_between", "delivery_count"),
        ("export_attribute_catalog", "expect_column_values_to_not_match_regex", "attribute_name"),
    }
    volume = {
        (name, "expect_table_row_count_to_be_between", None) for name in specs.all_suites() if name.startswith("raw_")
    } | {
        ("staged_volume", "expect_column_pair_values_a_to_be_greater_than_b", "rows_today"),  # a drop
        ("staged_volume", "expect_column_pair_values_a_to_be_greater_than_b", "max_expected_rows"),  # a spike
    }
    assert warn == quirks | volume


def test_export_suites_are_all_fail_except_the_naming_advice():
    for name in ("export_endpoint_segment_attributes", "export_segments"):
        assert {e["meta"]["severity"] for e in specs.all_suites()[name].expectations} == {"fail"}


def test_each_checkpoint_names_existing_suites():
    suites = specs.all_suites()
    for checkpoint, assets in specs.checkpoints().items():
        assert assets, checkpoint
        assert set(assets) <= set(suites)
        stored = json.loads((GX_DIR / "checkpoints" / f"{checkpoint}.json").read_text())
        assert [vd["name"] for vd in stored["validation_definitions"]] == list(assets)


def test_data_docs_site_and_results_store_are_substituted_from_env():
    config = (GX_DIR / "great_expectations.yml").read_text()
    assert "base_directory: ${EWH_DATA_DOCS_DIR}" in config
    assert "base_directory: ${EWH_GX_RESULTS_DIR}" in config
    assert "analytics_enabled: false" in config
