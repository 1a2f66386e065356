"""Promotion gates: a paired bootstrap of candidate vs baseline on the same evaluation rows.

Both experiments' ``predictions.csv`` (row_id, actual, predicted) are aligned by
``row_id``. Each bootstrap resample draws rows with replacement (the same rows
for both models: the test is paired) and computes the metric for each model;
the improvement is ``baseline - candidate`` when lower is better, else
``candidate - baseline``. The one-sided p-value is the share of resamples in
which the candidate does not improve, ``(k + 1) / (B + 1)``; the confidence
interval is the percentile interval of the resampled improvements. A fixed
seed makes the result reproducible.

numpy is imported inside the functions so that ``artifactctl --help`` stays light.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from artifactctl.config import Promotion
from artifactctl.errors import UsageError

METRICS = ("rmse", "mse", "mae", "r2")
CI_LEVEL = 0.95
CHUNK = 256  # resamples per vectorised batch...
CELLS = 1 << 21  # ...and at most this many resample x row cells (bounds memory to ~32 MiB)


@dataclass(frozen=True)
class Predictions:
    row_ids: list[str]
    actual: Any  # numpy arrays
    predicted: Any


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

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        return data


def read_predictions(path: Path) -> Predictions:
    """predictions.csv as arrays; a malformed file is bad input (exit 2)."""
    import numpy as np

    ids: list[str] = []
    actual: list[float] = []
    predicted: list[float] = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"row_id", "actual", "predicted"} - set(reader.fieldnames or [])
            if missing:
                raise UsageError(f"{path.name} lacks column(s) {', '.join(sorted(missing))}")
            for row in reader:
                ids.append(row["row_id"])
                actual.append(float(row["actual"]))
                predicted.append(float(row["predicted"]))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if len(set(ids)) != len(ids):
        raise UsageError(f"{path} repeats row_id values; predictions must have one row per id")
    return Predictions(ids, np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float))


def align(candidate: Predictions, baseline: Predictions) -> tuple[Any, Any, Any]:
    """(actual, candidate predicted, baseline predicted) on the shared rows, by row_id.

    Different sets of evaluation rows (or different actual values on a row) make
    the comparison meaningless: UsageError.
    """
    import numpy as np

    if set(candidate.row_ids) != set(baseline.row_ids):
        only_c = len(set(candidate.row_ids) - set(baseline.row_ids))
        only_b = len(set(baseline.row_ids) - set(candidate.row_ids))
        raise UsageError(
            "the two experiments were evaluated on different rows "
            f"({only_c} row(s) only in the candidate, {only_b} only in the baseline)",
            hint="re-evaluate both on the same evaluation split (`dvc repro`)",
        )
    position = {rid: i for i, rid in enumerate(baseline.row_ids)}
    order = np.asarray([position[rid] for rid in candidate.row_ids], dtype=np.int64)
    base_actual = baseline.actual[order]
    if not np.allclose(candidate.actual, base_actual, rtol=1e-9, atol=1e-9):
        raise UsageError(
            "the two experiments' predictions disagree on the actual values of the same rows",
            hint="re-evaluate both on the same evaluation split (`dvc repro`)",
        )
    return candidate.actual, candidate.predicted, baseline.predicted[order]


def metric_value(metric: str, actual: Any, predicted: Any) -> Any:
    """The metric over the last axis (works for one row vector or a batch of resamples)."""
    import numpy as np

    err = actual - predicted
    if metric == "rmse":
        return np.sqrt(np.mean(err**2, axis=-1))
    if metric == "mse":
        return np.mean(err**2, axis=-1)
    if metric == "mae":
        return np.mean(np.abs(err), axis=-1)
    if metric == "r2":
        centred = actual - np.mean(actual, axis=-1, keepdims=True)
        ss_tot = np.sum(centred**2, axis=-1)
        return 1.0 - np.sum(err**2, axis=-1) / np.where(ss_tot == 0, np.nan, ss_tot)
    raise UsageError(f"promotion metric {metric!r} is not supported; use one of {METRICS}")


def _columns(metric: str, actual: Any, cand: Any, base: Any) -> list[Any]:
    """Per-row quantities whose resampled sums give both models' metric."""
    import numpy as np

    ec, eb = actual - cand, actual - base
    if metric == "mae":
        return [np.abs(ec), np.abs(eb)]
    cols = [ec**2, eb**2]
    if metric == "r2":
        cols += [actual, actual**2]
    return [np.ascontiguousarray(c) for c in cols]


def _from_sums(metric: str, sums: Any, n: int) -> tuple[Any, Any]:
    """(candidate, baseline) metric values from resampled column sums (one row per resample)."""
    import numpy as np

    loss_c, loss_b = sums[:, 0] / n, sums[:, 1] / n
    if metric == "rmse":
        return np.sqrt(loss_c), np.sqrt(loss_b)
    if metric in ("mse", "mae"):
        return loss_c, loss_b
    ss_tot = sums[:, 3] - sums[:, 2] ** 2 / n
    ss_tot = np.where(ss_tot <= 0, np.nan, ss_tot)
    return 1.0 - sums[:, 0] / ss_tot, 1.0 - sums[:, 1] / ss_tot


def paired_bootstrap(
    actual: Any, cand: Any, base: Any, *, metric: str, direction: str, resamples: int, seed: int
) -> tuple[float, float, float, float, float]:
    """(candidate value, baseline value, p-value, ci low, ci high) of the improvement.

    Every metric here is a function of sums of per-row quantities (losses, and for r2 the
    actual values and their squares), so each resample gathers only those precomputed
    columns: no per-resample residuals, and a batch of resamples per numpy call.
    """
    import numpy as np

    if metric not in METRICS:
        raise UsageError(f"promotion metric {metric!r} is not supported; use one of {METRICS}")
    n = len(actual)
    if n < 2:
        raise UsageError("at least two evaluation rows are needed for a bootstrap test")
    sign = 1.0 if direction == "lower" else -1.0
    cols = _columns(metric, actual, cand, base)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(CHUNK, CELLS // n))
    improvements = np.empty(resamples)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(size, n), dtype=np.int32 if n < 2**31 else np.int64)
        sums = np.column_stack([np.take(col, idx).sum(axis=1) for col in cols])
        c_val, b_val = _from_sums(metric, sums, n)
        improvements[start : start + size] = sign * (b_val - c_val)
    improvements = np.nan_to_num(improvements, nan=-np.inf)
    not_better = int(np.sum(improvements <= 0))
    p_value = (not_better + 1) / (resamples + 1)
    tail = (1 - CI_LEVEL) / 2
    low, high = np.quantile(improvements, [tail, 1 - tail])
    return (
        float(metric_value(metric, actual, cand)),
        float(metric_value(metric, actual, base)),
        float(p_value),
        float(low),
        float(high),
    )


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
