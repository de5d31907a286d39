"""Every model and column is documented (grain first) and every PII column is tagged, read from the manifest.

The manifest only knows the columns declared in YAML, so the declared columns are compared with the columns
the build really produced (the DuckDB warehouse of the shared `dbt build`): an undeclared column is an
undocumented one.

PII (GitLab's rule): a column is PII when its name says so (`PII_COLUMN_NAME`) or when a parent model or
source exposes a PII column of the same name (the value flows downstream). A PII column carries the tag
`pii` and `meta: {pii: true}` (see dbt_project/README.md), so that docs, grants and masking can find it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pytest

PROJECT = "engagement_warehouse"
GRAIN_FIRST = re.compile(r"^One row per ", re.IGNORECASE)
# Names that hold personal data whatever the model: emails (plain or hashed), addresses, phone numbers,
# IP addresses, names, birth dates. Counts like `email_sends` do not match: the name must END with the word.
PII_COLUMN_NAME = re.compile(
    r"^(.+_)?(email|email_sha256|email_hash|address|phone|phone_number|mobile_number|ip|ip_address"
    r"|first_name|last_name|full_name|birth_date|date_of_birth|street|postal_code|zip_code)$"
)


def _models(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(
        (n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["package_name"] == PROJECT),
        key=lambda node: node["unique_id"],
    )


def _sources(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(
        (s for s in manifest["sources"].values() if s["package_name"] == PROJECT), key=lambda s: s["unique_id"]
    )


def _label(node: dict[str, Any]) -> str:
    if node["resource_type"] == "source":
        return f"source {node['source_name']}.{node['name']}"
    return f"model {node['name']}" + (f" v{node['version']}" if node.get("version") is not None else "")


def _built_columns(warehouse: Path, schema: str, relation: str) -> list[str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, relation],
        ).fetchall()
    finally:
        con.close()
    return [row[0] for row in rows]


def _is_tagged_pii(column: dict[str, Any]) -> bool:
    return "pii" in (column.get("tags") or []) and (column.get("meta") or {}).get("pii") is True


def test_every_model_and_source_states_its_grain_first(built_manifest: dict[str, Any]) -> None:
    nodes = _models(built_manifest) + _sources(built_manifest)
    assert len(nodes) >= 20
    problems = [
        f"{_label(node)}: description must start with its grain ('One row per ...')"
        for node in nodes
        if not GRAIN_FIRST.match(" ".join(node["description"].split()))
    ]
    assert not problems, "\n".join(problems)


def test_every_built_column_is_declared_and_described(built_manifest: dict[str, Any], built_warehouse: Path) -> None:
    problems: list[str] = []
    for node in _models(built_manifest) + _sources(built_manifest):
        relation = node["identifier"] if node["resource_type"] == "source" else node["alias"]
        built = _built_columns(built_warehouse, node["schema"], relation)
        if not built:
            problems.append(f"{_label(node)}: relation {node['schema']}.{relation} not found in the build")
            continue
        declared = node["columns"]
        problems += [f"{_label(node)}.{name}: built but not declared in YAML" for name in built if name not in declared]
        problems += [f"{_label(node)}.{name}: declared in YAML but not built" for name in declared if name not in built]
        problems += [
            f"{_label(node)}.{name}: no description"
            for name, column in declared.items()
            if not (column.get("description") or "").strip()
        ]
    assert not problems, "\n".join(problems)


def test_pii_columns_are_tagged_along_the_lineage(built_manifest: dict[str, Any]) -> None:
    nodes = {node["unique_id"]: node for node in _models(built_manifest) + _sources(built_manifest)}
    pii_columns = {
        unique_id: {name for name, column in node["columns"].items() if _is_tagged_pii(column)}
        for unique_id, node in nodes.items()
    }
    problems: list[str] = []
    for node in nodes.values():
        inherited: dict[str, str] = {}
        for parent in node.get("depends_on", {}).get("nodes", []):
            for name in pii_columns.get(parent, set()):
                inherited.setdefault(name, nodes[parent]["name"])
        for name, column in node["columns"].items():
            tags, meta_pii = "pii" in (column.get("tags") or []), (column.get("meta") or {}).get("pii") is True
            if tags != meta_pii:
                problems.append(f"{_label(node)}.{name}: tag pii and meta pii disagree")
            if _is_tagged_pii(column):
                continue
            if PII_COLUMN_NAME.match(name):
                problems.append(f"{_label(node)}.{name}: PII by name, not tagged pii")
            elif name in inherited:
                problems.append(f"{_label(node)}.{name}: exposes PII of {inherited[name]}.{name}, not tagged pii")
    assert not problems, "\n".join(problems)
    # the check is not vacuous: the known PII columns are found and tagged
    assert {"email", "email_sha256"} <= pii_columns[f"model.{PROJECT}.user_profiles"]
    assert "address" in pii_columns[f"model.{PROJECT}.endpoint_segment_attributes.v1"]


@pytest.mark.parametrize(
    ("name", "is_pii"),
    [
        ("email", True),
        ("email_sha256", True),
        ("billing_address", True),
        ("ip", True),
        ("phone_number", True),
        ("email_sends", False),
        ("email_last_engaged_at", False),
        ("page_name", False),
        ("zip_count", False),
    ],
)
def test_pii_name_pattern(name: str, is_pii: bool) -> None:
    assert bool(PII_COLUMN_NAME.match(name)) is is_pii
