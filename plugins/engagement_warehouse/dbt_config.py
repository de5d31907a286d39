"""How Airflow runs the dbt project through astronomer-cosmos, for every target.

- The DAG is rendered from a prebuilt `target/manifest.json` (LoadMode.DBT_MANIFEST): parsing DAGs never runs dbt.
  `make manifest` (part of `make run` and `make test`) builds it with `dbt parse`.
- dbt runs from its own virtualenv (`EWH_DBT_EXECUTABLE`, default `.venv-dbt/bin/dbt`) as a subprocess, so dbt's
  dependencies never clash with Airflow's.
- The profile: locally, `dbt_project/profiles.yml` (only env_var() lookups). In production, cosmos builds it from
  the Airflow connection: `redshift_default` (Redshift) or `aws_default` (Athena).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engagement_warehouse.settings import Settings

PROFILE_NAME = "engagement_warehouse"


def manifest_path(settings: Settings) -> Path:
    return settings.dbt_project_dir / "target" / "manifest.json"


def cosmos_configs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for a cosmos `DbtTaskGroup`: project, profile, execution and render configs."""
    from cosmos import ExecutionConfig, InvocationMode, LoadMode, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, TestBehavior

    project = ProjectConfig(
        dbt_project_path=settings.dbt_project_dir,
        manifest_path=manifest_path(settings),
        project_name=PROFILE_NAME,
    )
    execution = ExecutionConfig(
        execution_mode=ExecutionMode.LOCAL,
        invocation_mode=InvocationMode.SUBPROCESS,
        dbt_executable_path=str(settings.dbt_executable),
    )
    render = RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        test_behavior=TestBehavior.AFTER_ALL,
        invocation_mode=InvocationMode.SUBPROCESS,
        dbt_executable_path=str(settings.dbt_executable),
        emit_datasets=False,
    )
    return {
        "project_config": project,
        "profile_config": profile_config(settings),
        "execution_config": execution,
        "render_config": render,
    }


def profile_config(settings: Settings) -> Any:
    """The dbt profile for `EWH_TARGET`: the committed profiles.yml locally, Airflow connections in production."""
    from cosmos import ProfileConfig

    if settings.target == "duckdb":
        return ProfileConfig(
            profile_name=PROFILE_NAME,
            target_name="duckdb",
            profiles_yml_filepath=settings.dbt_project_dir / "profiles.yml",
        )
    schema = os.environ.get("EWH_DBT_SCHEMA", "ewh")
    if settings.target == "redshift":
        from cosmos.profiles import RedshiftUserPasswordProfileMapping

        mapping = RedshiftUserPasswordProfileMapping(
            conn_id=os.environ.get("EWH_REDSHIFT_CONN_ID", "redshift_default"),
            profile_args={"schema": schema},
        )
    else:
        from cosmos.profiles import AthenaAccessKeyProfileMapping

        mapping = AthenaAccessKeyProfileMapping(
            conn_id=os.environ.get("EWH_AWS_CONN_ID", "aws_default"),
            profile_args={
                "schema": schema,
                "database": os.environ.get("EWH_ATHENA_CATALOG", "awsdatacatalog"),
                "region_name": settings.aws_region,
                "s3_staging_dir": os.environ.get("EWH_ATHENA_S3_STAGING_DIR", ""),
                "work_group": os.environ.get("EWH_ATHENA_WORK_GROUP", "primary"),
            },
        )
    return ProfileConfig(profile_name=PROFILE_NAME, target_name=settings.target, profile_mapping=mapping)
