"""Promotion gates: a paired bootstrap of candidate vs baseline on the same evaluation rows.

Both experiments' ``predictions.csv`` (row_id, actual, predicted) are aligned by
``row_id`` (:mod:`artifactctl.registry.predictions`), the paired bootstrap
(:mod:`artifactctl.registry.bootstrap`) gives the p-value and the interval of the
improvement, and every configured gate is checked against them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from artifactctl.config import Promotion
from artifactctl.registry.bootstrap import (
    CI_LEVEL,
    METHOD,
    METHOD_VERSION,
    METRICS,
    metric_value,
    paired_bootstrap,
    resampling_units,
)
from artifactctl.registry.predictions import Predictions, align, read_predictions

__all__ = [
    "METRICS",
    "Gate",
    "GateResult",
    "Predictions",
    "align",
    "evaluate_gates",
    "metric_value",
    "paired_bootstrap",
    "read_predictions",
]


@dataclass
class Gate:
    name: str
    value: float | None
    threshold: float
    op: str  # "<=" or ">="
    passed: bool
    detail: str = ""


@dataclass
class GateResult:
    metric: str
    direction: str
    candidate_value: float
    baseline_value: float
    improvement: float
    improvement_relative: float | None
    p_value: float
    ci_low: float
    ci_high: float
    ci_level: float
    resamples: int
    seed: int
    n_rows: int
    gates: list[Gate] = field(default_factory=list)
    method: str = METHOD
    method_version: int = METHOD_VERSION
    units: int = 0  # what each resample draws: the rows, or buckets of rows (see bootstrap)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        return data


def evaluate_gates(
    candidate: Predictions,
    baseline: Predictions,
    settings: Promotion,
    candidate_metrics: dict[str, Any] | None = None,
) -> GateResult:
    """Run the bootstrap and every configured gate; nothing is written."""
    actual, cand, base = align(candidate, baseline)
    c_val, b_val, p_value, low, high = paired_bootstrap(
        actual,
        cand,
        base,
        metric=settings.metric,
        direction=settings.direction,
        resamples=settings.resamples,
        seed=settings.seed,
    )
    improvement = (b_val - c_val) if settings.direction == "lower" else (c_val - b_val)
    relative = improvement / abs(b_val) if b_val not in (0.0,) and math.isfinite(b_val) else None
    gates = [
        Gate("p_value", p_value, settings.max_p_value, "<=", p_value <= settings.max_p_value),
        Gate(
            "min_improvement",
            improvement,
            settings.min_improvement,
            ">=",
            improvement >= settings.min_improvement and improvement > 0,
            "the candidate must also be strictly better",
        ),
    ]
    if settings.min_improvement_relative > 0:
        ok = relative is not None and relative >= settings.min_improvement_relative
        gates.append(
            Gate("min_improvement_relative", relative, settings.min_improvement_relative, ">=", ok)
        )
    gates += _metric_bounds(settings, candidate_metrics or {})
    return GateResult(
        metric=settings.metric,
        direction=settings.direction,
        candidate_value=c_val,
        baseline_value=b_val,
        improvement=improvement,
        improvement_relative=relative,
        p_value=p_value,
        ci_low=low,
        ci_high=high,
        ci_level=CI_LEVEL,
        resamples=settings.resamples,
        seed=settings.seed,
        n_rows=len(actual),
        gates=gates,
        units=resampling_units(len(actual)),
    )


def _metric_bounds(settings: Promotion, metrics: dict[str, Any]) -> list[Gate]:
    """One gate per ``min_metrics`` / ``max_metrics`` bound on the candidate's metrics.json."""
    gates = []
    for kind, bounds, op in (
        ("min", settings.min_metrics, ">="),
        ("max", settings.max_metrics, "<="),
    ):
        for name, bound in sorted(bounds.items()):
            value = _number(metrics.get(name))
            ok = value is not None and (value >= bound if op == ">=" else value <= bound)
            detail = "" if value is not None else "not in the candidate's metrics.json"
            gates.append(Gate(f"{kind} {name}", value, bound, op, ok, detail))
    return gates


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
