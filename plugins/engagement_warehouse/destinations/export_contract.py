"""The export contract, read from the dbt manifest: which columns feed which Pinpoint paths, which
models are segments.

dbt is the bridge from models to export (see DESIGN.md): the export model `endpoint_segment_attributes`
declares, per column, the destination attribute path in column meta `pinpoint` (e.g. `Id`,
`User.UserId`, `Attributes.loyalty_tier`, `Metrics.lifetime_value`), and optionally
`pinpoint_multi_value_separator` for a column holding several values in one string. Segment models
live under `models/segments/` and name their Pinpoint segment in model meta `pinpoint_segment`.
Adding an exported attribute is adding a column: nothing here names an attribute.

Meta is read from both `meta` and `config.meta` (dbt 1.10+ moved meta under config; older manifests
and YAML styles still fill `meta`); `config.meta` wins on conflicts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXPORT_MODEL_NAME = "endpoint_segment_attributes"
PROJECT_PACKAGE = "engagement_warehouse"
SEGMENTS_FOLDER = "segments"
ID_PATH = "Id"
DEFAULT_SEGMENT_ID_COLUMN = "endpoint_id"

_TOP_LEVEL_PATHS = {
    "Id",
    "Address",
    "ChannelType",
    "OptOut",
    "EffectiveDate",
    "EndpointStatus",
    "User.UserId",
}
_PREFIXED_PATHS = ("Attributes.", "Metrics.", "User.UserAttributes.", "Demographic.", "Location.")


class ExportContractError(ValueError):
    """The manifest does not describe a usable export contract."""


@dataclass(frozen=True, slots=True)
class ExportColumn:
    """One exported column and the destination path it feeds."""

    column: str
    path: str
    multi_value_separator: str | None = None
    data_type: str | None = None

    @property
    def is_metric(self) -> bool:
        """Metrics (and location coordinates) are numbers; everything else is text."""
        return self.path.startswith("Metrics.") or self.path in ("Location.Latitude", "Location.Longitude")

    @property
    def is_multi_valued(self) -> bool:
        """Custom attributes are lists of strings in Pinpoint."""
        return self.path.startswith(("Attributes.", "User.UserAttributes."))


@dataclass(frozen=True, slots=True)
class ExportContract:
    """The endpoint export model: the relation to read and its column -> path mapping."""

    unique_id: str
    relation: str  # schema-qualified, quoted, stable relation (the unversioned view)
    id_column: str
    columns: tuple[ExportColumn, ...]  # every mapped column except the id

    @property
    def paths(self) -> list[str]:
        return [c.path for c in self.columns]


@dataclass(frozen=True, slots=True)
class SegmentModel:
    """A segment model: its relation, the Pinpoint segment name and the member id column."""

    unique_id: str
    model_name: str
    segment_name: str
    relation: str
    id_column: str


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    merged.update(obj.get("meta") or {})
    merged.update((obj.get("config") or {}).get("meta") or {})
    return merged


def validate_path(path: str) -> str:
    """Return `path` if it is a Pinpoint endpoint path this exporter can write, else raise."""
    if path in _TOP_LEVEL_PATHS:
        return path
    for prefix in _PREFIXED_PATHS:
        if path.startswith(prefix) and len(path) > len(prefix):
            return path
    raise ExportContractError(
        f"unsupported pinpoint path {path!r}: use one of {sorted(_TOP_LEVEL_PATHS)} "
        f"or a name under {', '.join(_PREFIXED_PATHS)}"
    )


def load_manifest(manifest_path: str | Path) -> dict[str, Any]:
    """Read dbt's `target/manifest.json`."""
    with open(manifest_path, encoding="utf-8") as handle:
        return json.load(handle)


def _version_key(node: dict[str, Any]) -> tuple[int, str]:
    version = node.get("version")
    if version is None:
        return (-1, "")
    text = str(version)
    return (int(text), text) if re.fullmatch(r"\d+", text) else (0, text)


def find_export_contract(
    manifest: dict[str, Any], model_name: str = EXPORT_MODEL_NAME, package: str = PROJECT_PACKAGE
) -> ExportContract:
    """Find the latest version of the export model and map its columns to Pinpoint paths.

    The relation returned is the stable `<schema>.<model name>` (the unversioned view over the latest
    version), not a versioned table, so consumers never chase `_v1` -> `_v2`.
    """
    candidates = [
        node
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "model"
        and node.get("name") == model_name
        and node.get("package_name", package) == package
    ]
    if not candidates:
        raise ExportContractError(f"model {model_name!r} not found in the manifest")
    latest = [n for n in candidates if n.get("latest_version") is not None and n.get("version") is not None]
    latest = [n for n in latest if str(n["version"]) == str(n["latest_version"])]
    node = latest[0] if latest else max(candidates, key=_version_key)

    id_column: str | None = None
    columns: list[ExportColumn] = []
    for name, column in (node.get("columns") or {}).items():
        meta = _meta(column)
        path = meta.get("pinpoint")
        if not path:
            continue
        path = validate_path(str(path))
        column_name = column.get("name") or name
        if path == ID_PATH:
            id_column = column_name
            continue
        separator = meta.get("pinpoint_multi_value_separator")
        columns.append(
            ExportColumn(
                column=column_name,
                path=path,
                multi_value_separator=str(separator) if separator else None,
                data_type=column.get("data_type"),
            )
        )
    if id_column is None:
        raise ExportContractError(f"{node['unique_id']}: no column has meta pinpoint: {ID_PATH}")
    if not columns:
        raise ExportContractError(f"{node['unique_id']}: no column has a pinpoint meta path")
    duplicated = {c.path for c in columns if sum(1 for d in columns if d.path == c.path) > 1}
    if duplicated:
        raise ExportContractError(f"{node['unique_id']}: several columns feed {sorted(duplicated)}")
    schema = node.get("schema") or "marts"
    return ExportContract(
        unique_id=node["unique_id"],
        relation=f"{_quote(schema)}.{_quote(model_name)}",
        id_column=id_column,
        columns=tuple(sorted(columns, key=lambda c: c.path)),
    )


def _in_segments_folder(node: dict[str, Any]) -> bool:
    original = (node.get("original_file_path") or "").replace("\\", "/")
    path = (node.get("path") or "").replace("\\", "/")
    return original.startswith(f"models/{SEGMENTS_FOLDER}/") or path.startswith(f"{SEGMENTS_FOLDER}/")


def find_segment_models(manifest: dict[str, Any], package: str = PROJECT_PACKAGE) -> list[SegmentModel]:
    """The segment models: package `package`, under `models/segments/`, with model meta `pinpoint_segment`.

    The member id column is the column with meta `pinpoint: Id`, else the model meta
    `pinpoint_id_column`, else `endpoint_id`. Sorted by model name so runs are deterministic.
    """
    segments: list[SegmentModel] = []
    seen_names: dict[str, str] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model" or node.get("package_name") != package:
            continue
        if not _in_segments_folder(node):
            continue
        meta = _meta(node)
        segment_name = meta.get("pinpoint_segment")
        if not segment_name:
            continue
        id_column = meta.get("pinpoint_id_column") or DEFAULT_SEGMENT_ID_COLUMN
        for name, column in (node.get("columns") or {}).items():
            if _meta(column).get("pinpoint") == ID_PATH:
                id_column = column.get("name") or name
        if segment_name in seen_names:
            raise ExportContractError(
                f"segment name {segment_name!r} is used by both {seen_names[segment_name]} and {node['name']}"
            )
        seen_names[str(segment_name)] = node["name"]
        alias = node.get("alias") or node["name"]
        segments.append(
            SegmentModel(
                unique_id=node["unique_id"],
                model_name=node["name"],
                segment_name=str(segment_name),
                relation=f"{_quote(node.get('schema') or SEGMENTS_FOLDER)}.{_quote(alias)}",
                id_column=str(id_column),
            )
        )
    return sorted(segments, key=lambda s: s.model_name)
