"""The export circuit breaker: block an export whose size swings too far from the last successful one.

A correct-looking but wrong mart (a bad join, an empty upstream table) can pass every row-level check
and still empty a segment or rewrite most endpoints. Before pushing, the exporter compares this run's
counts with those of the last successful export; a relative swing above the threshold (default 30 %)
blocks unless an operator approved it. Pure function: the caller reads the counts and the approval
(DAG param `approve_swing`, or Airflow Variable `ewh_export_swing_approved`) and raises on `blocked`.

Count keys, by convention:
- `segment:<name>`: members of one segment, compared with the same key last time (a segment that
  disappeared counts as 0 now; a segment seen for the first time has no baseline and never trips);
- `endpoints`: endpoints in the export, compared with the same key last time;
- `changed_endpoints`: endpoints whose attributes change in this run, compared with the previous
  `endpoints` (the share of the last exported population being rewritten).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_THRESHOLD = 0.30
CHANGED_ENDPOINTS = "changed_endpoints"
ENDPOINTS = "endpoints"
APPROVAL_PARAM = "approve_swing"
APPROVAL_VARIABLE = "ewh_export_swing_approved"


@dataclass(frozen=True)
class Swing:
    """One compared count. `change` is relative (0.5 = 50 %); None when there is no baseline."""

    name: str
    previous: int | None
    current: int
    change: float | None
    tripped: bool

    def describe(self) -> str:
        """`segment:vip 1000 -> 1500 (+50.0%)`."""
        if self.change is None:
            return f"{self.name} {self.current} (no baseline)"
        if self.name == CHANGED_ENDPOINTS:
            return f"{self.name} {self.current} of {self.previous} previously exported ({self.change:.1%})"
        sign = "+" if self.current >= (self.previous or 0) else "-"
        return f"{self.name} {self.previous} -> {self.current} ({sign}{abs(self.change):.1%})"


@dataclass(frozen=True)
class CircuitBreakerResult:
    """The comparison and its verdict."""

    threshold: float
    approved: bool
    swings: tuple[Swing, ...]
    baseline: bool  # False on the first export (nothing to compare with)

    @property
    def tripped(self) -> tuple[Swing, ...]:
        """The swings above the threshold."""
        return tuple(s for s in self.swings if s.tripped)

    @property
    def blocked(self) -> bool:
        """True when a swing exceeds the threshold and nobody approved it."""
        return bool(self.tripped) and not self.approved

    def message(self) -> str:
        """Operator-facing: what swung, by how much, and how to approve it if it is expected."""
        if not self.baseline:
            return "Circuit breaker: no previous successful export to compare with; export allowed."
        if not self.tripped:
            return f"Circuit breaker: every count within {self.threshold:.0%} of the last successful export."
        details = "; ".join(s.describe() for s in self.tripped)
        if self.approved:
            return f"Circuit breaker: swing above {self.threshold:.0%} approved by an operator: {details}."
        return (
            f"Export blocked by the circuit breaker: {details} (threshold {self.threshold:.0%} "
            "versus the last successful export). If this change is expected, re-trigger the run with "
            f"DAG param {APPROVAL_PARAM}=true or set the Airflow Variable {APPROVAL_VARIABLE} "
            "to this run's id; otherwise investigate the marts before exporting."
        )


def _relative(previous: int, current: int) -> float:
    if previous == 0:
        return 0.0 if current == 0 else float("inf")
    return abs(current - previous) / previous


def check_circuit_breaker(
    current: Mapping[str, int],
    previous: Mapping[str, int] | None,
    threshold: float = DEFAULT_THRESHOLD,
    approved: bool = False,
) -> CircuitBreakerResult:
    """Compare this run's counts with the last successful export's (see the module doc for the keys)."""
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    if previous is None:
        swings = tuple(Swing(name, None, count, None, False) for name, count in sorted(current.items()))
        return CircuitBreakerResult(threshold, approved, swings, baseline=False)

    swings: list[Swing] = []
    for name in sorted(set(current) | set(previous)):
        now = int(current.get(name, 0))
        if name == CHANGED_ENDPOINTS:
            if name not in current:
                continue
            base = previous.get(ENDPOINTS)
            if base is None:
                swings.append(Swing(name, None, now, None, False))
                continue
            change = now / base if base else (0.0 if now == 0 else float("inf"))
            swings.append(Swing(name, base, now, change, change > threshold))
            continue
        if name not in previous:
            swings.append(Swing(name, None, now, None, False))  # new segment: no baseline
            continue
        before = int(previous[name])
        change = _relative(before, now)
        swings.append(Swing(name, before, now, change, change > threshold))
    return CircuitBreakerResult(threshold, approved, tuple(swings), baseline=True)
