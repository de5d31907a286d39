"""Quarantine reason codes are stable, documented strings: every code the code can raise is in REASON_CODES and
in sources/README.md, and REASON_CODES lists nothing that no code raises."""

from __future__ import annotations

import ast
from pathlib import Path

import engagement_warehouse
from engagement_warehouse.sources.readers import REASON_CODES

PACKAGE = Path(engagement_warehouse.__file__).parent
CODE = [PACKAGE / "landing.py", *sorted((PACKAGE / "sources").glob("*.py"))]


def raised_reason_codes() -> set[str]:
    """First string arguments of RowError(...)/ObjectError(...) calls, and ("code", detail) error tuples."""
    codes: set[str] = set()
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("RowError", "ObjectError"):
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    codes.add(first.value)
            if isinstance(node, ast.Tuple) and len(node.elts) == 2:
                first = node.elts[0]
                if isinstance(first, ast.Constant) and first.value in REASON_CODES:
                    codes.add(first.value)
    return codes


def test_every_raised_reason_code_is_documented() -> None:
    raised = raised_reason_codes()
    assert raised, "the scan found no reason codes: it is broken"
    assert raised - set(REASON_CODES) == set()
    assert set(REASON_CODES) - raised == set()


def test_the_sources_readme_lists_every_reason_code() -> None:
    readme = (PACKAGE / "sources" / "README.md").read_text(encoding="utf-8")
    assert [code for code in REASON_CODES if f"`{code}`" not in readme] == []
