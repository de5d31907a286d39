"""The IAM policies in docs/iam/ grant only what the code calls, and the code calls nothing they forget.

The set of AWS operations "the code calls" is derived, not listed by hand:

- every boto3 client call in the project's package (`client.create_import_job(...)`,
  `s3_client.get_paginator("list_objects_v2")`, `client.upload_file(...)`), mapped to its operation through
  botocore's service model (snake_case method -> OperationName; IAM prefix = the model's signingName, so Pinpoint
  is `mobiletargeting`);
- the same scan over dbt-athena's adapter (in .venv-dbt), which runs with our identity when EWH_TARGET=athena;
- the lake's fsspec calls on S3 (`self.fs.find/open/rm...` in lake.py), mapped to S3 operations by s3fs's
  documented behaviour (a small table, checked against lake.py so it cannot drift);
- the Amazon provider classes the package instantiates (e.g. `SnsNotifier` publishes with SNS Publish);
- actions AWS performs on the caller's behalf (iam:PassRole for CreateImportJob, Glue and S3 for Athena queries),
  listed below with the AWS rule that requires each.

A policy action outside that set fails the test (least privilege); so does a called operation no policy grants.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "plugins" / "engagement_warehouse"
# The sandbox is the local stand-in for Pinpoint: it never runs in AWS, so its S3 reads need no policy.
EXCLUDED_PARTS = {"sandbox", "__pycache__"}
DBT_ATHENA = next((REPO / ".venv-dbt" / "lib").glob("python3*/site-packages/dbt/adapters/athena"), None)
POLICY_DIR = REPO / "docs" / "iam"

# botocore service name -> receiver-name hints that pin a call to that service.
SERVICES: dict[str, tuple[str, ...]] = {
    "pinpoint": ("pinpoint",),
    "s3": ("s3",),
    "athena": ("athena",),
    "glue": ("glue",),
    "redshift-data": ("redshift_data", "redshiftdata", "data_api"),
    "sts": ("sts",),
    "lakeformation": ("lf_", "lakeformation"),
}
# boto3's managed-transfer helpers are client methods without an operation of their own.
S3_TRANSFER_METHODS = {
    "upload_file": ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"),
    "upload_fileobj": ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"),
    "download_file": ("HeadObject", "GetObject"),
    "download_fileobj": ("HeadObject", "GetObject"),
}
# What s3fs sends for each fsspec method lake.py calls (s3fs.core.S3FileSystem); `open` covers both modes and the
# multipart upload of large writes (aborted on failure).
FSSPEC_S3_OPERATIONS = {
    "exists": ("HeadObject", "ListObjectsV2"),
    "find": ("ListObjectsV2",),
    "info": ("HeadObject", "ListObjectsV2"),
    "open": (
        "HeadObject",
        "GetObject",
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
    ),
    "rm": ("ListObjectsV2", "DeleteObjects", "DeleteObject"),
    "makedirs": (),  # a no-op on S3: no request
    "invalidate_cache": (),  # local listing cache only: no request
}
# S3 is the service whose IAM actions are not `s3:<OperationName>` (AWS's "Actions, resources and condition keys
# for Amazon S3" maps each operation to the action it requires).
S3_OPERATION_ACTIONS = {
    "HeadObject": ("s3:GetObject",),
    "ListObjectsV2": ("s3:ListBucket",),
    "ListObjects": ("s3:ListBucket",),
    "HeadBucket": ("s3:ListBucket",),
    "DeleteObjects": ("s3:DeleteObject",),
    "CreateMultipartUpload": ("s3:PutObject",),
    "UploadPart": ("s3:PutObject",),
    "CompleteMultipartUpload": ("s3:PutObject",),
    "CopyObject": ("s3:GetObject", "s3:PutObject"),
}
# Amazon provider classes that call AWS for the package, and the operations they send.
PROVIDER_CLASSES: dict[str, tuple[tuple[str, str], ...]] = {
    "SnsNotifier": (("sns", "Publish"),),
    # warehouse/redshift.py: execute_query (BatchExecuteStatement), check_query_is_finished (DescribeStatement),
    # the row count (GetStatementResult) and the cancel on timeout (CancelStatement).
    "RedshiftDataHook": (
        ("redshift-data", "BatchExecuteStatement"),
        ("redshift-data", "DescribeStatement"),
        ("redshift-data", "GetStatementResult"),
        ("redshift-data", "CancelStatement"),
    ),
    # warehouse/athena.py: run_query and poll_query_status.
    "AthenaHook": (("athena", "StartQueryExecution"), ("athena", "GetQueryExecution")),
}
# Actions AWS checks on the caller's behalf when the code calls an operation.
IMPLIED_ACTIONS: dict[str, tuple[str, ...]] = {
    # CreateImportJob hands RoleArn to Pinpoint: the caller needs iam:PassRole; Pinpoint (assuming the role through
    # sts:AssumeRole) reads the import files.
    "mobiletargeting:CreateImportJob": ("iam:PassRole", "sts:AssumeRole", "s3:GetObject", "s3:ListBucket"),
    # An Athena query runs with the caller's permissions on the Glue catalog, the table data and the results
    # location ("Access to the AWS Glue Data Catalog" and "Amazon S3 permissions" in Athena's user guide).
    "athena:StartQueryExecution": (
        "glue:GetDatabase",
        "glue:GetDatabases",
        "glue:CreateDatabase",
        "glue:GetTable",
        "glue:GetTables",
        "glue:CreateTable",
        "glue:UpdateTable",
        "glue:DeleteTable",
        "glue:GetPartition",
        "glue:GetPartitions",
        "glue:BatchCreatePartition",
        "glue:BatchDeletePartition",
        "s3:GetBucketLocation",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        "s3:ListBucketMultipartUploads",
    ),
    # The Redshift Data API with a database user gets temporary credentials for it on the caller's behalf.
    "redshift-data:ExecuteStatement": ("redshift:GetClusterCredentials", "redshift-serverless:GetCredentials"),
    # The Data API authenticates as EWH_REDSHIFT_DB_USER (temporary credentials) or with the secret named in the call.
    "redshift-data:BatchExecuteStatement": (
        "redshift:GetClusterCredentials",
        "redshift-serverless:GetCredentials",
        "secretsmanager:GetSecretValue",
    ),
}
# Actions AWS defines without resource-level permissions: the only ones a policy may grant on "*".
RESOURCE_STAR_ALLOWED = {
    "redshift-data:DescribeStatement",
    "redshift-data:GetStatementResult",
    "redshift-data:CancelStatement",
    "redshift-data:ListStatements",
}
# Placeholders the deploy guide tells operators to replace, with sample values to check the ARN grammar.
PLACEHOLDERS = {
    "<account-id>": "123456789012",
    "<region>": "eu-west-1",
    "<pinpoint-app-id>": "0123456789abcdef0123456789abcdef",
    "<pinpoint-import-role>": "ewh-pinpoint-import",
    "<lake-bucket>": "acme-engagement-lake",
    "<lake-prefix>": "engagement",
    "<data-docs-bucket>": "acme-data-docs",
    "<data-docs-prefix>": "ewh",
    "<athena-results-bucket>": "acme-athena-results",
    "<athena-results-prefix>": "ewh",
    "<athena-workgroup>": "primary",
    "<glue-database>": "ewh",
    "<redshift-cluster>": "ewh-cluster",
    "<redshift-database>": "analytics",
    "<redshift-db-user>": "ewh_loader",
    "<redshift-copy-role>": "ewh-redshift-copy",
    "<sns-topic>": "ewh-notifications",
    "<redshift-workgroup>": "ewh-workgroup",
    "<redshift-secret>": "ewh-redshift-loader",
}
ACTION_RE = re.compile(r"^[a-z0-9-]+:[A-Z][A-Za-z0-9]+$")
ARN_RE = re.compile(r"^arn:aws:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:[^\s<>]+$")


@cache
def _operations(service: str) -> dict[str, str]:
    """snake_case client method -> OperationName, from botocore's model of `service`."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


@cache
def _iam_prefix(service: str) -> str:
    model = botocore.session.get_session().get_service_model(service)
    return model.signing_name or model.endpoint_prefix


def _python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if not EXCLUDED_PARTS.intersection(path.relative_to(root).parts):
            yield path


def boto3_calls(files: Iterable[Path]) -> set[tuple[str, str]]:
    """(service, OperationName) of every boto3 client call in `files`.

    A call counts when its receiver names a service (`glue_client.get_table`) or is a client (`client.x`,
    `self._client.x`) and the method is an operation of one of SERVICES; paginators and waiters count with
    their operation name; boto3's transfer helpers count as the S3 operations they send.
    """
    found: set[tuple[str, str]] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = ast.unparse(node.func.value).lower()
            method = node.func.attr
            if method in ("get_paginator", "get_waiter") and node.args and isinstance(node.args[0], ast.Constant):
                method = str(node.args[0].value)
            hinted = [svc for svc, hints in SERVICES.items() if any(hint in receiver for hint in hints)]
            if not hinted and "client" not in receiver:
                continue
            for service in hinted or SERVICES:
                if service == "s3" and method in S3_TRANSFER_METHODS:
                    found.update(("s3", op) for op in S3_TRANSFER_METHODS[method])
                elif method in _operations(service):
                    found.add((service, _operations(service)[method]))
    return found


def provider_calls(files: Iterable[Path]) -> set[tuple[str, str]]:
    """(service, OperationName) sent by the Amazon provider classes instantiated in `files`."""
    found: set[tuple[str, str]] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in PROVIDER_CLASSES:
                found.update(PROVIDER_CLASSES[node.func.id])
    return found


def lake_fsspec_calls() -> set[tuple[str, str]]:
    """The S3 operations behind lake.py's fsspec calls (`self.fs.<method>(...)`)."""
    tree = ast.parse((PACKAGE / "lake.py").read_text())
    methods = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and ast.unparse(node.func.value) in ("self.fs", "fs")
    }
    unknown = methods - FSSPEC_S3_OPERATIONS.keys()
    assert not unknown, f"lake.py calls fsspec {sorted(unknown)}: add their S3 operations to FSSPEC_S3_OPERATIONS"
    return {("s3", op) for method in methods for op in FSSPEC_S3_OPERATIONS[method]}


def iam_actions(calls: Iterable[tuple[str, str]]) -> set[str]:
    """IAM actions required by `calls`, including those AWS checks on the caller's behalf."""
    actions: set[str] = set()
    for service, operation in calls:
        if service == "s3":
            actions.update(S3_OPERATION_ACTIONS.get(operation, (f"s3:{operation}",)))
        else:
            actions.add(f"{_iam_prefix(service)}:{operation}")
    for action in list(actions):
        actions.update(IMPLIED_ACTIONS.get(action, ()))
    return actions


@cache
def called_actions() -> frozenset[str]:
    files = list(_python_files(PACKAGE))
    if DBT_ATHENA is not None:
        files += list(_python_files(DBT_ATHENA))
    return frozenset(iam_actions(boto3_calls(files) | provider_calls(_python_files(PACKAGE)) | lake_fsspec_calls()))


def _policies() -> list[Path]:
    return sorted(POLICY_DIR.glob("*.json"))


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _substitute(text: str) -> str:
    for placeholder, sample in PLACEHOLDERS.items():
        text = text.replace(placeholder, sample)
    return text


def test_policies_exist() -> None:
    names = {path.name for path in _policies()}
    assert {
        "ewh-airflow-pinpoint.json",
        "ewh-pinpoint-import-role-trust.json",
        "ewh-pinpoint-import-role-s3-read.json",
        "ewh-airflow-lake-s3.json",
        "ewh-airflow-athena-glue.json",
        "ewh-airflow-notifications-sns.json",
    } <= names


@pytest.mark.parametrize("path", _policies(), ids=lambda p: p.name)
def test_policy_grammar(path: Path) -> None:
    """Valid JSON, IAM's policy grammar basics, and only the documented placeholders."""
    text = path.read_text()
    unknown = set(re.findall(r"<[a-z0-9-]+>", text)) - PLACEHOLDERS.keys()
    assert not unknown, f"undocumented placeholders {sorted(unknown)}"
    policy = json.loads(_substitute(text))
    assert set(policy) <= {"Version", "Id", "Statement"}
    assert policy["Version"] == "2012-10-17"
    statements = policy["Statement"]
    assert isinstance(statements, list) and statements
    sids = [st.get("Sid") for st in statements]
    assert len(set(sids)) == len(sids) and all(re.fullmatch(r"[A-Za-z0-9]+", sid or "") for sid in sids)
    trust = path.name.endswith("-trust.json")
    for st in statements:
        assert set(st) <= {"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}, st
        assert st["Effect"] in ("Allow", "Deny")
        actions = _as_list(st["Action"])
        assert actions and all(ACTION_RE.match(a) for a in actions), f"wildcard or malformed action in {actions}"
        if trust:
            assert "Resource" not in st and st["Principal"] == {"Service": "pinpoint.amazonaws.com"}
            assert actions == ["sts:AssumeRole"]
            # Confused-deputy guard: only this account's Pinpoint project may assume the role.
            assert st["Condition"]["StringEquals"]["aws:SourceAccount"] == PLACEHOLDERS["<account-id>"]
            assert st["Condition"]["ArnLike"]["aws:SourceArn"].startswith("arn:aws:mobiletargeting:")
            continue
        assert "Principal" not in st, "identity policies name no principal"
        for resource in _as_list(st["Resource"]):
            if resource == "*":
                assert set(actions) <= RESOURCE_STAR_ALLOWED, f"{actions} on Resource '*'"
            else:
                assert ARN_RE.match(resource), resource


@pytest.mark.parametrize("path", _policies(), ids=lambda p: p.name)
def test_policy_names_only_actions_the_code_calls(path: Path) -> None:
    policy = json.loads(path.read_text())
    granted = {action for st in policy["Statement"] for action in _as_list(st["Action"])}
    extra = granted - called_actions()
    assert not extra, f"{path.name} grants {sorted(extra)}, which no code path calls"


def test_every_called_pinpoint_and_lake_action_is_granted() -> None:
    """The reverse check: a new boto3 call in the package needs a policy change in the same commit."""
    granted = {
        action
        for path in _policies()
        for st in json.loads(path.read_text())["Statement"]
        for action in _as_list(st["Action"])
    }
    files = list(_python_files(PACKAGE))
    package_only = iam_actions(boto3_calls(files) | provider_calls(files) | lake_fsspec_calls())
    missing = package_only - granted
    assert not missing, f"the package calls {sorted(missing)}, which no policy in docs/iam grants"


def test_scanner_sees_known_calls() -> None:
    """Guards the scanner itself: the calls we know the package makes are found."""
    calls = boto3_calls(_python_files(PACKAGE))
    assert {
        ("pinpoint", "UpdateEndpointsBatch"),
        ("pinpoint", "CreateImportJob"),
        ("pinpoint", "GetImportJob"),
    } <= calls
    assert ("s3", "ListObjectsV2") in calls and ("s3", "PutObject") in calls  # quality/publish.py
    # lake.list_objects(...) is the project's own API, not S3's ListObjects.
    assert ("s3", "ListObjects") not in calls
