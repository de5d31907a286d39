"""One typed settings object, read from environment variables with local defaults.

Every variable is documented in the README and in `.env.example`. Production is configuration:
the same code reads an `s3://` lake and a Redshift or Athena target when these variables say so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

Target = Literal["duckdb", "redshift", "athena"]
TARGETS: tuple[Target, ...] = ("duckdb", "redshift", "athena")

# plugins/engagement_warehouse/settings.py -> repository root
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    """Where the lake, the warehouse and the Pinpoint application are."""

    repo_root: Path
    local_dir: Path
    lake_url: str
    target: Target
    duckdb_path: Path
    pinpoint_application_id: str
    pinpoint_endpoint_url: str | None
    pinpoint_import_role_arn: str
    aws_region: str
    s3_endpoint_url: str | None
    dbt_project_dir: Path
    dbt_executable: Path
    data_docs_dir: Path
    landing_workers: int

    @property
    def lake_is_local(self) -> bool:
        return self.lake_url.startswith("file://")


def _resolve(path: str, base: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else (base / candidate).resolve()


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ

    def get(name: str, default: str) -> str:
        value = (env.get(name) or "").strip()
        return value or default

    root = _resolve(get("EWH_REPO_ROOT", str(REPO_ROOT)), REPO_ROOT)
    local_dir = _resolve(get("EWH_LOCAL_DIR", ".local"), root)
    target = get("EWH_TARGET", "duckdb")
    if target not in TARGETS:
        raise ValueError(f"EWH_TARGET={target!r} is not one of {', '.join(TARGETS)}")
    lake_url = get("EWH_LAKE_URL", (local_dir / "lake").as_uri()).rstrip("/")
    if not lake_url.startswith(("file://", "s3://")):
        raise ValueError(f"EWH_LAKE_URL={lake_url!r} must start with file:// or s3://")
    return Settings(
        repo_root=root,
        local_dir=local_dir,
        lake_url=lake_url,
        target=target,  # type: ignore[arg-type]
        duckdb_path=_resolve(get("EWH_DUCKDB_PATH", str(local_dir / "warehouse.duckdb")), root),
        pinpoint_application_id=get("EWH_PINPOINT_APPLICATION_ID", "ewh-local-app"),
        pinpoint_endpoint_url=(env.get("EWH_PINPOINT_ENDPOINT_URL") or "").strip() or None,
        pinpoint_import_role_arn=get(
            "EWH_PINPOINT_IMPORT_ROLE_ARN", "arn:aws:iam::000000000000:role/ewh-local-pinpoint-import"
        ),
        aws_region=get("AWS_DEFAULT_REGION", "us-east-1"),
        s3_endpoint_url=(env.get("EWH_S3_ENDPOINT_URL") or "").strip() or None,
        dbt_project_dir=_resolve(get("EWH_DBT_PROJECT_DIR", "dbt_project"), root),
        dbt_executable=_resolve(get("EWH_DBT_EXECUTABLE", ".venv-dbt/bin/dbt"), root),
        data_docs_dir=_resolve(get("EWH_DATA_DOCS_DIR", str(local_dir / "data_docs")), root),
        landing_workers=int(get("EWH_LANDING_WORKERS", "1")),
    )


@cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
