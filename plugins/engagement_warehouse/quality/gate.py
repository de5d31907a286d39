"""The quality gate: run a checkpoint's validations over dataframes and classify failures by severity.

    result = run_gate("build_marts", {"export_endpoint_segment_attributes": frame, ...}, run_name=run_id)
    if not result.passed:
        raise AirflowFailException(result.summary())

Why not `Checkpoint.run`: GX passes one `batch_parameters` (one dataframe) to every validation definition
of a checkpoint, while each of ours guards a different table. The gate therefore runs the checkpoint's
validation definitions one by one, each with its own frame, using the checkpoint's result format and run
id, then builds Data Docs for exactly those results. The results are stored as a checkpoint run would
store them.

Severity comes from each expectation's `meta.severity`: `fail` (the default when missing or unknown) blocks,
`warn` is reported only. Great Expectations is imported lazily, on the first call.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engagement_warehouse.quality.context import data_docs_site, import_gx, load_context
from engagement_warehouse.quality.publish import publish_data_docs, publish_url, published_url
from engagement_warehouse.quality.specs import SEVERITIES, Severity

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.data_context import AbstractDataContext

SAMPLE_SIZE = 5
_IGNORED_KWARGS = {"batch_id"}


class GateConfigurationError(ValueError):
    """The gate was called wrongly (unknown checkpoint, missing or extra batch): a code bug, not bad data."""


@dataclass(frozen=True)
class CheckOutcome:
    """One expectation that did not pass, with enough context for an operator to act on it."""

    asset: str
    suite: str
    expectation_type: str
    kwargs: dict[str, Any]
    severity: Severity
    description: str | None = None
    failing_count: int | None = None  # GX unexpected_count; None for table-level checks
    element_count: int | None = None
    observed_value: Any = None  # table-level checks (row count, column set, distinct count...)
    sample: tuple[Any, ...] = ()  # up to SAMPLE_SIZE failing values (or value pairs / tuples)
    error: str | None = None  # the expectation raised instead of evaluating (e.g. missing column)
    data_docs_url: str | None = None

    @property
    def check(self) -> str:
        """The check as code: expectation type and its arguments."""
        args = ", ".join(f"{key}={value!r}" for key, value in self.kwargs.items())
        return f"{self.expectation_type}({args})"

    def describe(self) -> str:
        """One line: severity, asset, rule, how many rows failed, a sample and the Data Docs page."""
        rule = f'"{self.description}" ' if self.description else ""
        parts = [f"{self.severity.upper()} {self.asset}: {rule}[{self.check}]"]
        if self.error:
            parts.append(f"raised {self.error}")
        elif self.failing_count is not None:
            of = f" of {self.element_count}" if self.element_count is not None else ""
            parts.append(f"{self.failing_count} failing row(s){of}, sample {list(self.sample)!r}")
        else:
            parts.append(f"observed {self.observed_value!r}")
        if self.data_docs_url:
            parts.append(f"docs: {self.data_docs_url}")
        return " - ".join(parts)


@dataclass(frozen=True)
class GateResult:
    """What the gate found. `passed` is False when any fail-severity check failed."""

    checkpoint: str
    run_name: str
    failures: tuple[CheckOutcome, ...] = ()
    warnings: tuple[CheckOutcome, ...] = ()
    data_docs: dict[str, str | None] = field(default_factory=dict)  # asset -> validation page URL
    data_docs_index: str | None = None
    checks_run: int = 0

    @property
    def passed(self) -> bool:
        """No fail-severity failure (warnings never block)."""
        return not self.failures

    def summary(self, max_lines: int = 20) -> str:
        """A short, operator-actionable message: each failed check, its asset, count, sample and docs link."""
        status = "PASSED" if self.passed else "FAILED"
        head = (
            f"Quality gate {self.checkpoint!r} (run {self.run_name}) {status}: "
            f"{len(self.failures)} blocking failure(s), {len(self.warnings)} warning(s) "
            f"out of {self.checks_run} checks."
        )
        outcomes = [*self.failures, *self.warnings]
        lines = [head, *(outcome.describe() for outcome in outcomes[:max_lines])]
        if len(outcomes) > max_lines:
            lines.append(f"... and {len(outcomes) - max_lines} more (see Data Docs)")
        if self.failures:
            lines.append(
                "Downstream tasks are blocked. Fix the upstream data (or the rule, in "
                "engagement_warehouse/quality/specs.py) and clear this task; "
                "warnings need no action to proceed."
            )
        if self.data_docs_index:
            lines.append(f"Data Docs: {self.data_docs_index}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (for XCom, the lake manifest and the run report).

        Counts (`checks_passed`, `checks_failed` = blocking failures, `warnings`) sit beside the details
        (`failed_checks`, `warning_checks`), as reporting/summary.py reads them.
        """

        def outcome(o: CheckOutcome) -> dict[str, Any]:
            return {
                "asset": o.asset,
                "suite": o.suite,
                "check": o.check,
                "description": o.description,
                "severity": o.severity,
                "failing_count": o.failing_count,
                "element_count": o.element_count,
                "observed_value": _plain(o.observed_value),
                "sample": [_plain(v) for v in o.sample],
                "error": o.error,
                "data_docs_url": o.data_docs_url,
            }

        return {
            "checkpoint": self.checkpoint,
            "run_name": self.run_name,
            "passed": self.passed,
            "checks_run": self.checks_run,
            "checks_passed": self.checks_run - len(self.failures) - len(self.warnings),
            "checks_failed": len(self.failures),
            "warnings": len(self.warnings),
            "failed_checks": [outcome(o) for o in self.failures],
            "warning_checks": [outcome(o) for o in self.warnings],
            "data_docs": dict(self.data_docs),
            "data_docs_index": self.data_docs_index,
        }


def _plain(value: Any) -> Any:
    """Make GX/numpy/pandas values printable and JSON-friendly."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return _plain(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def severity_of(meta: Mapping[str, Any] | None) -> Severity:
    """`meta.severity`; missing or unknown means `fail` (a typo must not silently downgrade a rule)."""
    value = str((meta or {}).get("severity", "fail")).lower()
    return value if value in SEVERITIES else "fail"  # type: ignore[return-value]


def outcome_from_result(asset: str, suite: str, evr: Any, data_docs_url: str | None = None) -> CheckOutcome:
    """Turn one failed GX ExpectationValidationResult into a CheckOutcome."""
    config = evr.expectation_config.to_json_dict()
    result = evr.result or {}
    exception = evr.exception_info or {}
    error = None
    if exception.get("raised_exception"):
        error = str(exception.get("exception_message") or "an exception").splitlines()[0][:300]
    sample = result.get("partial_unexpected_list") or []
    unexpected = result.get("unexpected_count")
    element_count = result.get("element_count")
    return CheckOutcome(
        asset=asset,
        suite=suite,
        expectation_type=config["type"],
        kwargs={k: _plain(v) for k, v in (config.get("kwargs") or {}).items() if k not in _IGNORED_KWARGS},
        severity=severity_of(config.get("meta")),
        description=config.get("description"),
        failing_count=int(unexpected) if unexpected is not None else None,
        element_count=int(element_count) if element_count is not None else None,
        observed_value=_plain(result.get("observed_value")),
        sample=tuple(_plain(v) for v in sample[:SAMPLE_SIZE]),
        error=error,
        data_docs_url=data_docs_url,
    )


def _object_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Return `frame` with the dtypes GX 1.24's type checks understand; the values are unchanged.

    GX compares dtypes with numpy types: it does not recognise pandas 3's default `str` (StringDtype) columns,
    nor nullable integer/float extension dtypes (`Int32`, `Float64`), both of which duckdb's `.df()` returns
    (a nullable integer column comes back as `Int32`). Strings become object columns; nullable numbers become
    float64 with NaN for missing values.
    """
    import pandas as pd
    import pyarrow as pa

    def is_string(dtype: Any) -> bool:
        if isinstance(dtype, pd.StringDtype):
            return True
        return isinstance(dtype, pd.ArrowDtype) and pa.types.is_string(dtype.pyarrow_dtype)

    def is_nullable_number(dtype: Any) -> bool:
        return isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iuf"

    columns = {name: "object" for name, dtype in frame.dtypes.items() if is_string(dtype)}
    columns |= {name: "float64" for name, dtype in frame.dtypes.items() if is_nullable_number(dtype)}
    return frame.astype(columns) if columns else frame


def run_gate(
    checkpoint: str,
    batches: Mapping[str, pd.DataFrame],
    run_name: str,
    *,
    context: AbstractDataContext | None = None,
    root: Path | str | None = None,
    data_docs_dir: Path | str | None = None,
    results_dir: Path | str | None = None,
    build_docs: bool = True,
) -> GateResult:
    """Validate each asset of `checkpoint` with its frame from `batches` (asset name -> DataFrame).

    `run_name` identifies the run in stored results and Data Docs (use the Airflow run id). `context`
    reuses an open GX context; otherwise the project context under `root` is opened, with Data Docs in
    `data_docs_dir` (default: $EWH_DATA_DOCS_DIR, else settings.data_docs_dir) and validation results in
    `results_dir` (default: $EWH_GX_RESULTS_DIR, else <local dir>/gx/validations). `build_docs=False`
    skips Data Docs (the results are still stored). With $EWH_DATA_DOCS_URL=s3://bucket/prefix the
    pages this run wrote are uploaded there and the reported links are s3:// ones (quality.publish).

    Raises GateConfigurationError for an unknown checkpoint or when `batches` lacks (or has extra) assets.
    Bad data never raises: it is reported in the returned GateResult.
    """
    import pandas as pd

    import_gx()  # sets GX_ANALYTICS_ENABLED before any GX module is imported
    if context is None:
        context = load_context(root, data_docs_dir=data_docs_dir, results_dir=results_dir)
    try:
        cp = context.checkpoints.get(checkpoint)
    except Exception as error:  # GX raises DataContextError subclasses (StoreBackendError...) here
        known = sorted(c.name for c in context.checkpoints.all())
        raise GateConfigurationError(f"unknown checkpoint {checkpoint!r}; known: {known}") from error

    definitions = list(cp.validation_definitions)
    assets = [vd.data.data_asset.name for vd in definitions]
    missing = [a for a in assets if a not in batches]
    extra = sorted(set(batches) - set(assets))
    if missing or extra:
        raise GateConfigurationError(
            f"checkpoint {checkpoint!r} validates {assets}; missing batches for {missing}, unexpected batches {extra}"
        )
    for asset in assets:
        if not isinstance(batches[asset], pd.DataFrame):
            raise GateConfigurationError(
                f"batch for {asset!r} must be a pandas DataFrame, got {type(batches[asset]).__name__}"
            )

    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    run_id = RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.UTC))
    validated: list[tuple[str, str, Any, Any]] = []
    for vd, asset in zip(definitions, assets, strict=True):
        suite_result = vd.run(
            checkpoint_id=cp.id,
            batch_parameters={"dataframe": _object_strings(batches[asset])},
            result_format=cp.result_format,
            run_id=run_id,
        )
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=vd.suite.name),
            run_id=run_id,
            batch_identifier=suite_result.batch_id,
        )
        validated.append((asset, vd.suite.name, suite_result, key))

    docs: dict[str, str | None] = {asset: None for asset in assets}
    index_url = None
    if build_docs:
        site = data_docs_site()
        context.build_data_docs(resource_identifiers=[v[3] for v in validated])
        for asset, _, _, key in validated:
            urls = context.get_docs_sites_urls(resource_identifier=key, site_name=site)
            docs[asset] = urls[0]["site_url"] if urls else None
        index = context.get_docs_sites_urls(site_name=site)
        index_url = index[0]["site_url"] if index else None
        target = publish_url()
        if target and index_url and index_url.startswith("file://"):
            from urllib.parse import urlparse
            from urllib.request import url2pathname

            def local_path(url: str) -> Path:
                return Path(url2pathname(urlparse(url).path))

            local_dir = local_path(index_url).parent
            pages = [local_path(url) for url in docs.values() if url and url.startswith("file://")]
            publish_data_docs(local_dir, target, pages=pages)
            docs = {asset: published_url(url, local_dir, target) for asset, url in docs.items()}
            index_url = published_url(index_url, local_dir, target)

    failures: list[CheckOutcome] = []
    warnings: list[CheckOutcome] = []
    checks_run = 0
    for asset, suite_name, suite_result, _ in validated:
        for evr in suite_result.results:
            checks_run += 1
            if evr.success:
                continue
            outcome = outcome_from_result(asset, suite_name, evr, docs[asset])
            (failures if outcome.severity == "fail" else warnings).append(outcome)
    return GateResult(
        checkpoint=checkpoint,
        run_name=run_name,
        failures=tuple(failures),
        warnings=tuple(warnings),
        data_docs=docs,
        data_docs_index=index_url,
        checks_run=checks_run,
    )
