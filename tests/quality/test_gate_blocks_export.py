"""Every fail rule of the `build_marts` checkpoint blocks the export, through the path the DAGs use.

Each case builds the export mart and the segment models that dbt's manifest names in a tmp DuckDB, breaks
exactly one rule, then runs what `build_marts` -> `export_pinpoint` run: `tasks.gate_marts` and, only if it
passed, `tasks.sync_pinpoint_endpoints` against an in-process sandbox Pinpoint. A blocked case must raise
AirflowFailException naming the check, the asset, the failing count, a sample and the Data Docs page, and the
sandbox must have received no call. A clean control (and each warn rule) goes through and does call it.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from engagement_warehouse import tasks
from engagement_warehouse.sandbox import SandboxServer
from engagement_warehouse.settings import get_settings

from .conftest import REPO_ROOT, T0, email_event, frame_from_schema, pinpoint_events_frame

MANIFEST = REPO_ROOT / "dbt_project" / "target" / "manifest.json"
AS_OF = "2026-11-22"
APP_ID = "ewh-gate-test"
EXPORT_NODE_PREFIX = "model.engagement_warehouse.endpoint_segment_attributes"

pytestmark = pytest.mark.skipif(not MANIFEST.is_file(), reason="needs dbt's manifest: run `make manifest`")


def clean_endpoints() -> list[dict[str, Any]]:
    """Four exportable endpoints: one per address rule (EMAIL, SMS, VOICE) and a second email."""
    base = {
        "opt_out": "NONE",
        "clv_tier": "high",
        "lifecycle_stage": "active",
        "loyalty_tier": "gold",
        "preferred_category": "books",
        "recommended_items": "sku-1|sku-2",
        "usage_tier": "power",
        "lifetime_orders": 3,
        "lifetime_revenue": 120.5,
        "days_since_last_order": 4,
    }
    rows = [
        ("ep-1", "EMAIL", "jane@example.com"),
        ("ep-2", "SMS", "+12065550100"),
        ("ep-3", "VOICE", "+442071838750"),
        ("ep-4", "EMAIL", "li@example.org"),
    ]
    return [
        {**base, "endpoint_id": endpoint_id, "channel_type": channel, "address": address, "user_id": f"u-{i}"}
        for i, (endpoint_id, channel, address) in enumerate(rows, start=1)
    ]


@dataclass
class Mart:
    """The export model's rows, column types and the segment members, as one case will build them."""

    manifest: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=clean_endpoints)
    types: dict[str, str] = field(default_factory=dict)
    members: list[str | None] = field(default_factory=lambda: ["ep-1", "ep-2"])
    hours_behind: dict[str, float | None] = field(default_factory=dict)  # raw table -> age at day end (None: empty)

    def export_columns(self) -> dict[str, str]:
        """Column -> SQL type, from the manifest's export model (then this case's overrides)."""
        from engagement_warehouse.destinations.export_contract import find_export_contract

        contract = find_export_contract(self.manifest)
        columns = {contract.id_column: "varchar"}
        columns.update({column.column: column.data_type or "varchar" for column in contract.columns})
        columns.update(self.types)
        return columns

    def add_exported_column(self, name: str, pinpoint_path: str, value: str) -> None:
        """Declare one more exported column in the manifest (as a dbt `meta: pinpoint:` would) and fill it."""
        for node in self.manifest["nodes"].values():
            if node.get("unique_id", "").startswith(EXPORT_NODE_PREFIX):
                node["columns"][name] = {"name": name, "description": "", "meta": {"pinpoint": pinpoint_path}}
        self.types[name] = "varchar"
        for row in self.rows:
            row[name] = value

    def build(self, warehouse: Path, dbt_project_dir: Path) -> None:
        """Write the manifest and the warehouse tables it names (export model and every segment model)."""
        from engagement_warehouse.destinations.export_contract import find_export_contract, find_segment_models
        from engagement_warehouse.quality.derive import export_sources

        (dbt_project_dir / "target").mkdir(parents=True, exist_ok=True)
        (dbt_project_dir / "target" / "manifest.json").write_text(json.dumps(self.manifest), encoding="utf-8")
        contract = find_export_contract(self.manifest)
        columns = self.export_columns()
        with duckdb.connect(str(warehouse)) as con:
            con.execute("create schema if not exists marts")
            con.execute("create schema if not exists segments")
            ddl = ", ".join(f'"{name}" {sql_type}' for name, sql_type in columns.items())
            con.execute(f"create table {contract.relation} ({ddl})")
            names = list(columns)
            placeholders = ", ".join("?" for _ in names)
            con.executemany(
                f"insert into {contract.relation} values ({placeholders})",
                [[row.get(name) for name in names] for row in self.rows],
            )
            run_end = dt.datetime.fromisoformat(AS_OF) + dt.timedelta(days=1)
            segments = find_segment_models(self.manifest)
            ids = [contract.unique_id, *(segment.unique_id for segment in segments)]
            con.execute("create schema if not exists raw")
            for name, relation, loaded_at in export_sources(self.manifest, ids):
                con.execute(f"create table {relation} ({loaded_at} timestamp)")
                hours = self.hours_behind.get(name, 2.0)  # clean: every source landed 2 h before the day end
                if hours is not None:
                    con.execute(f"insert into {relation} values (?)", [run_end - dt.timedelta(hours=hours)])
            for i, segment in enumerate(segments):
                con.execute(f"create table {segment.relation} ({segment.id_column} varchar)")
                if i == 0:  # one populated segment is enough; the others stay empty
                    con.executemany(f"insert into {segment.relation} values (?)", [[m] for m in self.members])


@pytest.fixture(scope="module")
def real_manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with SandboxServer(tmp_path_factory.mktemp("sandbox") / "pinpoint.sqlite") as server:
        yield server


@pytest.fixture
def environment(
    tmp_path: Path, sandbox: SandboxServer, gx_context: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Settings pointed at this test's tmp warehouse, lake and manifest; the session's GX context reused."""
    values = {
        "EWH_LOCAL_DIR": str(tmp_path),
        "EWH_LAKE_URL": (tmp_path / "lake").as_uri(),
        "EWH_TARGET": "duckdb",
        "EWH_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "EWH_DBT_PROJECT_DIR": str(tmp_path / "dbt_project"),
        "EWH_PINPOINT_APPLICATION_ID": APP_ID,
        "EWH_PINPOINT_ENDPOINT_URL": sandbox.endpoint_url,
        "EWH_PINPOINT_REQUESTS_PER_SECOND": "1000",
        "EWH_AWS_CONN_ID": "ewh_gate_test_no_such_connection",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    # Opening the GX context costs seconds; every case reuses the session's copy of `expectations/`.
    monkeypatch.setattr("engagement_warehouse.quality.gate.load_context", lambda *args, **kwargs: gx_context)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def gate_then_export(run_id: str) -> dict[str, Any]:
    """What `build_marts` then `export_pinpoint` run, in the DAGs' order: the sync only if the gate passed."""
    verdict = tasks.gate_marts(as_of=AS_OF, run_name=run_id)
    tasks.sync_pinpoint_endpoints(as_of=AS_OF, run_id=run_id, dry_run=False)
    return verdict


def _set(row: int, column: str, value: Any) -> Callable[[Mart], None]:
    def mutate(mart: Mart) -> None:
        mart.rows[row][column] = value

    return mutate


def _retype(column: str, value: str) -> Callable[[Mart], None]:
    def mutate(mart: Mart) -> None:
        mart.types[column] = "varchar"
        mart.rows[0][column] = value

    return mutate


def _drop_column(column: str) -> Callable[[Mart], None]:
    def mutate(mart: Mart) -> None:
        for node in mart.manifest["nodes"].values():
            if node.get("unique_id", "").startswith(EXPORT_NODE_PREFIX):
                node["columns"].pop(column, None)
        for row in mart.rows:
            row.pop(column, None)

    return mutate


def _members(*members: str | None) -> Callable[[Mart], None]:
    def mutate(mart: Mart) -> None:
        mart.members = list(members)

    return mutate


def _hours_behind(table: str, hours: float | None) -> Callable[[Mart], None]:
    def mutate(mart: Mart) -> None:
        mart.hours_behind[table] = hours

    return mutate


def _add_column(name: str, path: str, value: str = "x") -> Callable[[Mart], None]:
    return lambda mart: mart.add_exported_column(name, path, value)


def _custom_attributes_up_to(total: int) -> Callable[[Mart], None]:
    """Add exported columns until the export has `total` distinct custom attributes."""

    def mutate(mart: Mart) -> None:
        from engagement_warehouse.destinations.export_contract import find_export_contract
        from engagement_warehouse.quality.derive import attribute_catalog

        contract = find_export_contract(mart.manifest)
        existing = attribute_catalog([(column.column, column.path) for column in contract.columns])
        for i in range(total - existing["attribute_name"].nunique()):
            mart.add_exported_column(f"extra_{i}", f"Attributes.Extra{i}", "x")

    return mutate


ATTRIBUTES = "export_endpoint_segment_attributes"
CATALOG = "export_attribute_catalog"
SEGMENTS = "export_segments"
FRESHNESS = "export_source_freshness"
STRING_COLUMNS = ("user_id", "lifecycle_stage", "clv_tier", "usage_tier", "preferred_category", "loyalty_tier")

# (id, mutation, asset, text naming the check, failing count or observed value as printed, sample text)
FAIL_RULES: list[tuple[str, Callable[[Mart], None], str, str, str, str]] = [
    (
        "export columns missing",
        _drop_column("channel_type"),
        ATTRIBUTES,
        "expect_table_columns_to_match_set",
        "observed",
        "endpoint_id",
    ),
    ("endpoint_id null", _set(1, "endpoint_id", None), ATTRIBUTES, "endpoint_id is never null", "1 failing", "None"),
    ("endpoint_id duplicate", _set(1, "endpoint_id", "ep-1"), ATTRIBUTES, "endpoint_id is unique", "2 failing", "ep-1"),
    (
        "channel type unknown",
        _set(0, "channel_type", "PIGEON"),
        ATTRIBUTES,
        "channel_type is a Pinpoint ChannelType",
        "1 failing",
        "PIGEON",
    ),
    ("SMS not E.164", _set(1, "address", "2065550100"), ATTRIBUTES, "SMS/VOICE address is E.164", "1 failing", "2065"),
    ("VOICE not E.164", _set(2, "address", "+0123"), ATTRIBUTES, "SMS/VOICE address is E.164", "1 failing", "+0123"),
    (
        "EMAIL invalid",
        _set(0, "address", "jane.example.com"),
        ATTRIBUTES,
        "EMAIL address is a valid email",
        "1 failing",
        "jane.example.com",
    ),
    (
        "address shared by two endpoints",
        _set(3, "address", "jane@example.com"),
        ATTRIBUTES,
        "no address is shared by two endpoint ids",
        "2 failing",
        "jane@example.com",
    ),
    (
        "opted-out endpoint",
        _set(2, "opt_out", "ALL"),
        ATTRIBUTES,
        "no opted-out endpoint (opt_out = ALL) is exported",
        "1 failing",
        "ALL",
    ),
    *(
        (
            f"{column} over 100 characters",
            _set(0, column, "y" * 101),
            ATTRIBUTES,
            f"{column} values are at most 100 characters",
            "1 failing",
            "yyyy",
        )
        for column in STRING_COLUMNS
    ),
    (
        "51 recommended items",
        _set(0, "recommended_items", "|".join(f"s{i}" for i in range(51))),
        ATTRIBUTES,
        "recommended_items has at most 50",
        "1 failing",
        "s0|s1",
    ),
    (
        "recommended item over 100 characters",
        _set(0, "recommended_items", "sku-1|" + "z" * 101),
        ATTRIBUTES,
        "each '|'-separated recommended_items value is at most 100",
        "1 failing",
        "sku-1|zzz",
    ),
    *(
        (
            f"{column} not numeric",
            _retype(column, "12.5"),
            ATTRIBUTES,
            f"{column} is numeric",
            "4 failing",  # the column's type is wrong, so every row fails
            "12.5",
        )
        for column in ("lifetime_orders", "lifetime_revenue", "days_since_last_order")
    ),
    (
        "attribute name over 50 characters",
        _add_column("long_name", "Attributes." + "n" * 51),
        CATALOG,
        "custom attribute names are at most 50 characters",
        "1 failing",
        "nnnn",
    ),
    (
        "251 custom attributes",
        _custom_attributes_up_to(251),
        CATALOG,
        "at most 250 distinct custom attributes",
        "observed 251",
        "",
    ),
    (
        "source older than its declared freshness",
        _hours_behind("raw.clickstream_events", 30.5),  # dbt's sources.yml: error_after 24 hours
        FRESHNESS,
        "every source behind the export received rows within the freshness limit",
        "1 failing",
        "30.5",
    ),
    (
        "source without rows",
        _hours_behind("raw.pinpoint_endpoints", None),
        FRESHNESS,
        "every source behind the export has landed rows",
        "1 failing",
        "NaT",
    ),
    ("segment member without id", _members("ep-1", None), SEGMENTS, "endpoint_id is never null", "1 failing", "None"),
    (
        "endpoint twice in a segment",
        _members("ep-1", "ep-1"),
        SEGMENTS,
        "an endpoint appears at most once per segment",
        "2 failing",
        "ep-1",
    ),
    (
        "opted-out segment member",
        _set(1, "opt_out", "ALL"),
        SEGMENTS,
        "no segment member is opted out",
        "1 failing",
        "ALL",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "asset", "check", "count", "sample"), [pytest.param(*rule[1:], id=rule[0]) for rule in FAIL_RULES]
)
def test_each_fail_rule_blocks_the_export_with_zero_pinpoint_calls(
    environment, real_manifest, sandbox, mutate, asset, check, count, sample
):
    from airflow.sdk.exceptions import AirflowFailException

    mart = Mart(copy.deepcopy(real_manifest))
    mutate(mart)
    mart.build(environment / "warehouse.duckdb", environment / "dbt_project")
    calls_before = sandbox.store.call_count()

    with pytest.raises(AirflowFailException) as raised:
        gate_then_export(f"blocked__{asset}")

    message = str(raised.value)
    assert "Quality gate 'build_marts'" in message and "FAILED" in message
    [line] = [line for line in message.splitlines() if line.startswith(f"FAIL {asset}:") and check in line]
    assert count in line, line
    assert sample in line.split(count, 1)[1], line  # the sample (or observed value) follows the count
    assert "docs: file://" in line and "Data Docs: file://" in message
    assert sandbox.store.call_count() == calls_before  # nothing reached Pinpoint
    verdict = json.loads((environment / "lake" / "manifests" / "quality" / "build_marts" / f"{AS_OF}.json").read_text())
    assert verdict["checks_failed"] >= 1


def test_clean_marts_pass_and_the_export_calls_pinpoint(environment, real_manifest, sandbox):
    Mart(copy.deepcopy(real_manifest)).build(environment / "warehouse.duckdb", environment / "dbt_project")
    calls_before = sandbox.store.call_count("UpdateEndpointsBatch")

    verdict = gate_then_export("clean__control")

    assert verdict["checks_failed"] == 0
    assert sandbox.store.call_count("UpdateEndpointsBatch") > calls_before  # so the zero-call assertions can fail


def test_two_columns_feeding_one_pinpoint_path_block_before_any_call(environment, real_manifest, sandbox):
    # The exporter's contract refuses this before the GX catalog rule can see it; the gate must still block.
    from airflow.sdk.exceptions import AirflowFailException

    mart = Mart(copy.deepcopy(real_manifest))
    mart.build(environment / "warehouse.duckdb", environment / "dbt_project")
    mart.add_exported_column("stage_again", "User.UserAttributes.LifecycleStage", "x")
    manifest = environment / "dbt_project" / "target" / "manifest.json"
    manifest.write_text(json.dumps(mart.manifest), encoding="utf-8")
    calls_before = sandbox.store.call_count()

    with pytest.raises(AirflowFailException, match=r"export contract .* invalid: .*User\.UserAttributes\.Lifecycle"):
        gate_then_export("blocked__contract")

    assert sandbox.store.call_count() == calls_before


def test_a_warn_rule_of_the_export_does_not_block(environment, real_manifest, sandbox):
    mart = Mart(copy.deepcopy(real_manifest))
    mart.add_exported_column("odd_name", "Attributes.odd/name", "x")  # reserved character: Pinpoint advice only
    mart.build(environment / "warehouse.duckdb", environment / "dbt_project")
    calls_before = sandbox.store.call_count("UpdateEndpointsBatch")

    verdict = gate_then_export("warn__export")

    assert verdict["passed"] and verdict["checks_failed"] == 0
    [warning] = verdict["warning_checks"]
    assert warning["asset"] == CATALOG and warning["sample"] == ["odd/name"]
    assert sandbox.store.call_count("UpdateEndpointsBatch") > calls_before


MINUTE = dt.timedelta(minutes=1)
STAGED_WARN_RULES = [
    (
        "arrival before event time",
        [
            email_event("ev1", "_email.send", "m1", T0, T0),
            email_event("ev2", "_email.delivered", "m1", T0, T0 - MINUTE),
        ],
        "raw_pinpoint_events",
        "arrival_timestamp is not earlier than event_timestamp",
    ),
    (
        "open before delivery",
        [
            email_event("ev1", "_email.send", "m1", T0, T0),
            email_event("ev2", "_email.open", "m1", T0, T0 + 2 * MINUTE),
            email_event("ev3", "_email.delivered", "m1", T0, T0 + 3 * MINUTE),
        ],
        "pinpoint_message_timeline",
        "first open is not earlier than its first delivery",
    ),
    (
        "many deliveries per message id",
        [email_event(f"ev{i}", "_email.delivered", "m1", T0, T0 + i * MINUTE) for i in range(1, 4)],
        "pinpoint_message_timeline",
        "At most one delivery event per message_id",
    ),
]


@pytest.mark.parametrize(
    ("events", "asset", "rule"), [pytest.param(*rule[1:], id=rule[0]) for rule in STAGED_WARN_RULES]
)
def test_each_pinpoint_quirk_warns_without_blocking_the_ingest(environment, events, asset, rule):
    from engagement_warehouse.sources.staged_schemas import PINPOINT_ENDPOINTS

    with duckdb.connect(str(environment / "warehouse.duckdb")) as con:
        con.execute("create schema raw")
        con.register("events_frame", pinpoint_events_frame(events))
        con.register("endpoints_frame", frame_from_schema(PINPOINT_ENDPOINTS))
        con.execute("create table raw.pinpoint_events as select * from events_frame")
        con.execute("create table raw.pinpoint_endpoints as select * from endpoints_frame")

    verdict = tasks.gate_staged("ingest_engagement", as_of=T0.date().isoformat(), run_name="warn__ingest")

    assert verdict["passed"] and verdict["checks_failed"] == 0
    [warning] = verdict["warning_checks"]
    assert warning["asset"] == asset and rule in warning["description"]
    assert warning["severity"] == "warn" and warning["failing_count"] >= 1


def test_the_freshness_limit_is_configurable(environment, real_manifest, sandbox, monkeypatch):
    monkeypatch.setenv("EWH_SOURCE_FRESHNESS_HOURS", "100")
    mart = Mart(copy.deepcopy(real_manifest), hours_behind={"raw.partner_acme_loyalty": 72.5})
    mart.build(environment / "warehouse.duckdb", environment / "dbt_project")
    calls_before = sandbox.store.call_count("UpdateEndpointsBatch")

    verdict = gate_then_export("fresh__within_configured_limit")

    assert verdict["passed"], verdict["failed_checks"]
    assert sandbox.store.call_count("UpdateEndpointsBatch") > calls_before


def test_a_volume_drop_against_recent_landing_manifests_warns_without_blocking(environment):
    from engagement_warehouse.lake import Lake
    from engagement_warehouse.sources.staged_schemas import PINPOINT_ENDPOINTS

    lake = Lake((environment / "lake").as_uri())
    for back in (1, 2, 3):  # the three days before: ~100 events staged per day (two runs on one day)
        day = (T0.date() - dt.timedelta(days=back)).isoformat()
        lake.write_bytes(f"manifests/landing/pinpoint_events/{day}/run-a.json", b'{"rows_staged": 100}')
        lake.write_bytes(f"manifests/landing/pinpoint_events/{day}/run-b.json", b'{"rows_staged": 0}')
    with duckdb.connect(str(environment / "warehouse.duckdb")) as con:
        con.execute("create schema raw")
        con.register("events_frame", pinpoint_events_frame())  # 3 events today
        con.register("endpoints_frame", frame_from_schema(PINPOINT_ENDPOINTS))
        con.execute("create table raw.pinpoint_events as select * from events_frame")
        con.execute("create table raw.pinpoint_endpoints as select * from endpoints_frame")

    verdict = tasks.gate_staged("ingest_engagement", as_of=T0.date().isoformat(), run_name="warn__volume")

    assert verdict["passed"] and verdict["checks_failed"] == 0
    [warning] = verdict["warning_checks"]
    assert warning["asset"] == "staged_volume" and "did not drop below" in warning["description"]
    assert warning["failing_count"] == 1 and warning["sample"]  # 3 rows today against a band from 33.3 rows
