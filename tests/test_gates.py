"""Promotion gates: the paired bootstrap on synthetic predictions (no repository needed)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifactctl.config import Promotion
from artifactctl.errors import UsageError
from artifactctl.registry.gates import Predictions, evaluate_gates, metric_value, paired_bootstrap


def preds(actual: np.ndarray, noise: float, seed: int, ids: list[str] | None = None) -> Predictions:
    rng = np.random.default_rng(seed)
    ids = ids or [str(i) for i in range(len(actual))]
    return Predictions(ids, actual, actual + rng.normal(0, noise, len(actual)))


ACTUAL = np.random.default_rng(1).normal(0, 3, 500)
SETTINGS = Promotion(resamples=1000)


def test_clearly_better_candidate_passes_every_gate() -> None:
    result = evaluate_gates(preds(ACTUAL, 0.5, 2), preds(ACTUAL, 1.5, 3), SETTINGS)
    assert result.passed
    assert result.p_value < 0.01
    assert result.candidate_value < result.baseline_value
    assert 0 < result.ci_low < result.improvement < result.ci_high


def test_equal_models_fail_the_p_value_and_improvement_gates() -> None:
    same = preds(ACTUAL, 1.0, 2)
    result = evaluate_gates(same, same, SETTINGS)
    assert not result.passed
    failed = {g.name for g in result.gates if not g.passed}
    assert {"p_value", "min_improvement"} <= failed


def test_worse_candidate_fails_and_improvement_is_negative() -> None:
    result = evaluate_gates(preds(ACTUAL, 1.5, 3), preds(ACTUAL, 0.5, 2), SETTINGS)
    assert not result.passed
    assert result.improvement < 0
    assert result.p_value > 0.99


def test_bootstrap_is_reproducible_with_the_seed_and_changes_without_it() -> None:
    c, b = preds(ACTUAL, 1.0, 2), preds(ACTUAL, 1.05, 3)
    one = evaluate_gates(c, b, SETTINGS)
    two = evaluate_gates(c, b, SETTINGS)
    other = evaluate_gates(c, b, dataclasses.replace(SETTINGS, seed=7))
    assert one.to_dict() == two.to_dict()
    assert (one.p_value, one.ci_low) != (other.p_value, other.ci_low)


def test_rows_are_paired_by_row_id_not_by_position() -> None:
    c = preds(ACTUAL, 0.5, 2)
    b = preds(ACTUAL, 1.5, 3)
    order = np.random.default_rng(4).permutation(len(ACTUAL))
    shuffled = Predictions([b.row_ids[i] for i in order], b.actual[order], b.predicted[order])
    assert (
        evaluate_gates(c, shuffled, SETTINGS).to_dict() == evaluate_gates(c, b, SETTINGS).to_dict()
    )


def test_different_evaluation_rows_are_refused() -> None:
    c = preds(ACTUAL, 0.5, 2)
    b = preds(ACTUAL, 0.5, 3, ids=[f"x{i}" for i in range(len(ACTUAL))])
    with pytest.raises(UsageError, match="different rows"):
        evaluate_gates(c, b, SETTINGS)


def test_same_rows_with_different_actual_values_are_refused() -> None:
    c = preds(ACTUAL, 0.5, 2)
    b = preds(ACTUAL + 1.0, 0.5, 3)
    with pytest.raises(UsageError, match="actual values"):
        evaluate_gates(c, b, SETTINGS)


def test_threshold_gates_use_the_candidates_metrics() -> None:
    s = dataclasses.replace(SETTINGS, min_metrics={"r2": 0.99}, max_metrics={"rmse": 10.0})
    result = evaluate_gates(preds(ACTUAL, 0.5, 2), preds(ACTUAL, 1.5, 3), s, {"r2": 0.9, "rmse": 1})
    gates = {g.name: g.passed for g in result.gates}
    assert gates["min r2"] is False and gates["max rmse"] is True
    assert not result.passed
    missing = evaluate_gates(preds(ACTUAL, 0.5, 2), preds(ACTUAL, 1.5, 3), s, {})
    assert {g.name: g.detail for g in missing.gates}["min r2"].startswith("not in")


def test_higher_is_better_metric_flips_the_direction() -> None:
    s = dataclasses.replace(SETTINGS, metric="r2", direction="higher")
    assert evaluate_gates(preds(ACTUAL, 0.5, 2), preds(ACTUAL, 1.5, 3), s).passed
    assert not evaluate_gates(preds(ACTUAL, 1.5, 3), preds(ACTUAL, 0.5, 2), s).passed


def test_metric_values_match_their_definitions() -> None:
    a, p = np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0])
    assert metric_value("rmse", a, p) == pytest.approx(np.sqrt(5 / 3))
    assert metric_value("mae", a, p) == pytest.approx(1.0)
    assert metric_value("r2", a, p) == pytest.approx(1 - 5 / np.sum((a - a.mean()) ** 2))
    with pytest.raises(UsageError):
        metric_value("auc", a, p)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(min_value=5, max_value=60),
    seed=st.integers(min_value=0, max_value=2**31),
    noise=st.floats(min_value=0.1, max_value=3.0),
)
def test_swapping_candidate_and_baseline_mirrors_the_interval(
    n: int, seed: int, noise: float
) -> None:
    rng = np.random.default_rng(seed)
    actual = rng.normal(0, 2, n)
    c = actual + rng.normal(0, noise, n)
    b = actual + rng.normal(0, noise, n)
    kw = {"metric": "rmse", "direction": "lower", "resamples": 200, "seed": seed}
    cv, bv, p1, lo1, hi1 = paired_bootstrap(actual, c, b, **kw)
    bv2, cv2, p2, lo2, hi2 = paired_bootstrap(actual, b, c, **kw)
    assert (cv, bv) == pytest.approx((cv2, bv2))
    assert 0 < p1 <= 1 and 0 < p2 <= 1
    assert lo1 == pytest.approx(-hi2) and hi1 == pytest.approx(-lo2)
