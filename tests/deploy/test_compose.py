"""docker-compose.yaml validates, and everything it points at exists in the repository.

There is no Docker engine here. The file is checked three ways: its shape (Airflow's official compose layout), the
compose-spec JSON schema when a package ships it (Debian's `docker-compose`), `docker-compose config -q` when that
tool is installed; the path checks always run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}
# Where a compose-spec JSON schema ships: Debian's docker-compose (python3-compose) package.
SCHEMA_CANDIDATES = [
    Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json"),
    *Path("/usr/lib/python3/dist-packages").glob("compose/config/config_schema_v3.*.json"),
]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _dockerfile(compose: dict[str, Any]) -> Path:
    build = compose["x-airflow-common"]["build"]
    return REPO / build["context"] / build["dockerfile"]


def test_shape_follows_airflows_official_file(compose: dict[str, Any]) -> None:
    common = compose["x-airflow-common"]
    assert common["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    services = compose["services"]
    assert AIRFLOW_SERVICES | {"postgres", "redis", "minio", "pinpoint-sandbox"} <= services.keys()
    for name in AIRFLOW_SERVICES:
        # The anchor was merged in: same image and the project's settings.
        assert services[name]["image"] == common["image"], name
        assert services[name]["environment"]["EWH_LAKE_URL"].startswith("s3://"), name
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES - {"airflow-init"}}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker": "celery worker",
    }


def test_settings_and_telemetry(compose: dict[str, Any]) -> None:
    env = compose["x-airflow-common"]["environment"]
    assert env["EWH_DBT_EXECUTABLE"] == "/opt/dbt-venv/bin/dbt"
    assert env["EWH_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["EWH_PINPOINT_ENDPOINT_URL"] == "http://pinpoint-sandbox:4579"
    assert env["AIRFLOW__USAGE_DATA_COLLECTION__ENABLED"] == "False"
    assert env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
    assert env["GX_ANALYTICS_ENABLED"] == "false"
    assert env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    # Every EWH_ variable is one the code or .env.example knows (a typo would be silently ignored).
    known = (REPO / ".env.example").read_text() + "".join(
        p.read_text() for p in (REPO / "plugins" / "engagement_warehouse").rglob("*.py")
    )
    unknown = sorted(name for name in env if name.startswith("EWH_") and name not in known)
    assert not unknown, f"unknown settings in docker-compose.yaml: {unknown}"


def test_every_referenced_path_exists(compose: dict[str, Any]) -> None:
    """Bind-mount sources, the build context, the Dockerfile and the files it COPYs are in the repository."""
    named_volumes = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source in named_volumes:
                continue
            assert source.startswith("./"), f"{name}: bind mount {source!r} must be relative to the repository"
            assert (REPO / source).exists(), f"{name}: {source} does not exist"
    mounted = {v.split(":", 2)[1] for v in compose["x-airflow-common"]["volumes"]}
    assert {f"/opt/airflow/{d}" for d in ("dags", "plugins", "dbt_project", "expectations", "include")} <= mounted
    dockerfile = _dockerfile(compose)
    assert dockerfile == REPO / "include" / "docker" / "Dockerfile" and dockerfile.is_file()
    copied = re.findall(r"^COPY(?:\s+--\S+)*\s+(.+?)\s+\S+$", dockerfile.read_text(), flags=re.M)
    assert copied, "the Dockerfile copies the pins"
    for sources in copied:
        for source in sources.split():
            assert (REPO / compose["x-airflow-common"]["build"]["context"] / source).is_file(), source


def test_image_matches_the_pinned_airflow() -> None:
    pinned = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), flags=re.M)
    assert pinned
    text = (REPO / "include" / "docker" / "Dockerfile").read_text()
    assert re.search(rf"^FROM apache/airflow:{re.escape(pinned[1])}-python3\.11$", text, flags=re.M)
    assert "-c /opt/ewh/constraints.txt" in text and "-c /opt/ewh/constraints-dbt.txt" in text
    assert "EWH_DBT_EXECUTABLE=/opt/dbt-venv/bin/dbt" in text


def test_sandbox_command_is_the_real_cli(compose: dict[str, Any]) -> None:
    """The sandbox service runs the package's CLI with flags it accepts."""
    from engagement_warehouse.sandbox.__main__ import _parse_args

    service = compose["services"]["pinpoint-sandbox"]
    assert service["entrypoint"] == ["python", "-m", "engagement_warehouse.sandbox"]
    argv = [str(arg) for arg in service["command"]]
    args = _parse_args(argv)
    assert args.host == "0.0.0.0" and args.allow_non_loopback


def test_compose_spec_schema(compose: dict[str, Any]) -> None:
    schema_path = next((p for p in SCHEMA_CANDIDATES if p.is_file()), None)
    if schema_path is None:
        pytest.skip("no compose-spec JSON schema installed (apt-get install docker-compose)")
    import json

    import jsonschema

    schema = json.loads(schema_path.read_text())
    # Extension fields (x-*) are allowed at the top level by the spec.
    jsonschema.validate(compose, schema, cls=jsonschema.Draft7Validator)


def test_docker_compose_config() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed")
    result = subprocess.run(
        [tool, "--project-directory", str(REPO), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
