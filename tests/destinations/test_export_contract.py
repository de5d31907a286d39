import pytest

from engagement_warehouse.destinations.export_contract import (
    ExportContractError,
    find_export_contract,
    find_segment_models,
    validate_path,
)

from .conftest import manifest_dict


def test_export_contract_uses_latest_version_and_both_meta_locations():
    contract = find_export_contract(manifest_dict())
    assert contract.unique_id == "model.engagement_warehouse.endpoint_segment_attributes.v2"
    assert contract.relation == '"marts"."endpoint_segment_attributes"'
    assert contract.id_column == "endpoint_id"
    by_path = {c.path: c for c in contract.columns}
    assert set(by_path) == {
        "Address",
        "ChannelType",
        "OptOut",
        "User.UserId",
        "Attributes.loyalty_tier",
        "User.UserAttributes.interests",
        "Metrics.lifetime_value",
    }
    assert by_path["ChannelType"].column == "channel_type"  # from config.meta
    assert by_path["User.UserAttributes.interests"].multi_value_separator == "|"
    assert by_path["Metrics.lifetime_value"].is_metric
    assert "Attributes.old" not in by_path  # v1 is not the latest


def test_export_contract_requires_an_id_column():
    manifest = manifest_dict()
    node = manifest["nodes"]["model.engagement_warehouse.endpoint_segment_attributes.v2"]
    node["columns"]["endpoint_id"]["meta"] = {}
    with pytest.raises(ExportContractError, match="pinpoint: Id"):
        find_export_contract(manifest)


def test_unsupported_path_is_refused():
    with pytest.raises(ExportContractError):
        validate_path("Attributes.")
    with pytest.raises(ExportContractError):
        validate_path("Foo.bar")
    assert validate_path("Demographic.Locale") == "Demographic.Locale"


def test_segment_models_from_segments_folder_with_meta():
    segments = find_segment_models(manifest_dict())
    assert [(s.model_name, s.segment_name, s.relation, s.id_column) for s in segments] == [
        ("seg_gold_members", "Gold members", '"segments"."seg_gold_members"', "endpoint_id"),
        ("seg_lapsed", "Lapsed", '"segments"."seg_lapsed"', "member"),
    ]


def test_duplicate_segment_names_are_refused():
    manifest = manifest_dict()
    manifest["nodes"]["model.engagement_warehouse.seg_lapsed"]["config"]["meta"]["pinpoint_segment"] = "Gold members"
    with pytest.raises(ExportContractError, match="Gold members"):
        find_segment_models(manifest)
