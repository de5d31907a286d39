"""Open the project's Great Expectations file context (expectations/gx/) without side effects.

GX is imported lazily (importing it takes seconds; DAG files import this package at parse time), with
analytics disabled unless the environment says otherwise. Paths that differ per environment are GX config
substitutions in `great_expectations.yml`:

- `${EWH_DATA_DOCS_DIR}`: the local Data Docs site (default: settings.data_docs_dir, i.e. .local/data_docs);
- `${EWH_GX_RESULTS_DIR}`: the validation results store (default: <local dir>/gx/validations), kept out
  of the repository so that validation runs never dirty the working tree.

Explicit arguments win over the environment, which wins over the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engagement_warehouse.settings import Settings, get_settings

if TYPE_CHECKING:
    from great_expectations.data_context import FileDataContext

DATA_DOCS_ENV = "EWH_DATA_DOCS_DIR"
RESULTS_ENV = "EWH_GX_RESULTS_DIR"
SITE_ENV = "EWH_DATA_DOCS_SITE"
DEFAULT_DATA_DOCS_SITE = "local_site"


def project_root(settings: Settings | None = None) -> Path:
    """The GX project root: `<repo>/expectations` (the context itself lives in its `gx/` folder)."""
    return (settings or get_settings()).repo_root / "expectations"


def data_docs_site() -> str:
    """The Data Docs site whose page URLs the gate reports: $EWH_DATA_DOCS_SITE, default `local_site`.

    The gate builds every configured site; production can add an S3 site and name it here.
    """
    return os.environ.get(SITE_ENV) or DEFAULT_DATA_DOCS_SITE


def import_gx() -> Any:
    """Import great_expectations with analytics off unless GX_ANALYTICS_ENABLED is already set."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def runtime_environment(
    data_docs_dir: Path | str | None = None,
    results_dir: Path | str | None = None,
    settings: Settings | None = None,
) -> dict[str, str]:
    """The GX substitution values: explicit arguments, else the environment, else the defaults."""
    values: dict[str, str] = {}
    if data_docs_dir is not None:
        values[DATA_DOCS_ENV] = str(data_docs_dir)
    elif not os.environ.get(DATA_DOCS_ENV):
        values[DATA_DOCS_ENV] = str((settings or get_settings()).data_docs_dir)
    if results_dir is not None:
        values[RESULTS_ENV] = str(results_dir)
    elif not os.environ.get(RESULTS_ENV):
        values[RESULTS_ENV] = str((settings or get_settings()).local_dir / "gx" / "validations")
    return values


def load_context(
    root: Path | str | None = None,
    *,
    data_docs_dir: Path | str | None = None,
    results_dir: Path | str | None = None,
) -> FileDataContext:
    """Open the file context under `root` (default: `<repo>/expectations`).

    Raises FileNotFoundError when `root/gx/great_expectations.yml` is missing: GX would otherwise scaffold
    a default context silently. Run `python -m engagement_warehouse.quality.bootstrap` to create it.
    """
    root_dir = Path(root) if root is not None else project_root()
    config = root_dir / "gx" / "great_expectations.yml"
    if not config.is_file():
        raise FileNotFoundError(
            f"no GX context at {config}; create it with `python -m engagement_warehouse.quality.bootstrap`"
        )
    gx = import_gx()
    return gx.get_context(
        mode="file",
        project_root_dir=str(root_dir),
        runtime_environment=runtime_environment(data_docs_dir, results_dir),
    )
