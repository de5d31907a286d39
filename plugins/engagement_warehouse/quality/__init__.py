"""The data quality gate: Great Expectations suites run over dataframes, with fail/warn severities.

    from engagement_warehouse.quality import run_gate
    result = run_gate("build_marts", batches, run_name=run_id)
    if not result.passed:
        raise AirflowFailException(result.summary())

Modules: `specs` (the rules, one suite per guarded asset, one checkpoint per DAG), `bootstrap`
(generates the committed GX context in expectations/gx from `specs`), `context` (opens it), `gate`
(runs a checkpoint over dataframes), `derive` (builds derived frames and catalogs), `circuit_breaker`
(export swing check). Importing this package does not import Great Expectations (about 5 s): DAG files
import it at parse time.
"""

from engagement_warehouse.quality.circuit_breaker import CircuitBreakerResult, check_circuit_breaker
from engagement_warehouse.quality.derive import (
    attribute_catalog,
    message_timeline,
    segment_members_sql,
    staged_batches,
)
from engagement_warehouse.quality.gate import CheckOutcome, GateConfigurationError, GateResult, run_gate

__all__ = [
    "CheckOutcome",
    "CircuitBreakerResult",
    "GateConfigurationError",
    "GateResult",
    "attribute_catalog",
    "check_circuit_breaker",
    "message_timeline",
    "run_gate",
    "segment_members_sql",
    "staged_batches",
]
