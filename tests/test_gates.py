"""Promotion gates: the paired bootstrap on synthetic predictions (no repository needed)."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifactctl.config import Promotion
from artifactctl.errors import UsageError
from artifactctl.registry import bootstrap
from artifactctl.registry.gates import (
    Predictions,
    align,
    evaluate_gates,
    metric_value,
    paired_bootstrap,
    read_predictions,
)


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


# ------------------------------------------------------------ method version 2


def version_1_bootstrap(
    actual: np.ndarray, cand: np.ndarray, base: np.ndarray, metric: str, resamples: int, seed: int
) -> tuple[float, float, float]:
    """The bootstrap as version 1 computed it (rows as units, 256-resample batches)."""
    rng = np.random.default_rng(seed)
    n = len(actual)
    ec, eb = actual - cand, actual - base
    cols = [ec**2, eb**2] + ([actual, actual**2] if metric == "r2" else [])
    out = np.empty(resamples)
    chunk = max(1, min(256, (1 << 21) // n))
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(size, n), dtype=np.int32)
        sums = np.column_stack([np.take(col, idx).sum(axis=1) for col in cols])
        if metric == "rmse":
            c_val, b_val = np.sqrt(sums[:, 0] / n), np.sqrt(sums[:, 1] / n)
        else:
            ss_tot = sums[:, 3] - sums[:, 2] ** 2 / n
            c_val, b_val = 1 - sums[:, 0] / ss_tot, 1 - sums[:, 1] / ss_tot
        out[start : start + size] = (b_val - c_val) * (1 if metric == "rmse" else -1)
    p_value = (int(np.sum(out <= 0)) + 1) / (resamples + 1)
    low, high = np.quantile(out, [0.025, 0.975])
    return p_value, float(low), float(high)


@pytest.mark.parametrize(
    ("n", "metric"), [(300, "rmse"), (5000, "r2"), (bootstrap.MAX_UNITS, "rmse")]
)
def test_up_to_max_units_rows_the_bootstrap_is_version_1_draw_for_draw(n: int, metric: str) -> None:
    rng = np.random.default_rng(n)
    actual = rng.normal(0, 2, n)
    cand, base = actual + rng.normal(0, 1, n), actual + rng.normal(0, 1.03, n)
    direction = "lower" if metric == "rmse" else "higher"
    kw = {"metric": metric, "direction": direction, "resamples": 300, "seed": 11}
    _, _, p_value, low, high = paired_bootstrap(actual, cand, base, **kw)
    want = version_1_bootstrap(actual, cand, base, metric, 300, 11)
    assert (p_value, low, high) == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_beyond_max_units_rows_are_resampled_in_buckets_with_the_rows_spread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    n = 20_000
    rng = np.random.default_rng(5)
    actual = rng.normal(0, 2, n)
    cand, base = actual + rng.normal(0, 1, n), actual + rng.normal(0, 1.02, n)
    kw = {"metric": "rmse", "direction": "lower", "resamples": 2000, "seed": 3}
    rows = bootstrap.resampled_improvements(actual, cand, base, **kw)
    monkeypatch.setattr(bootstrap, "MAX_UNITS", 2048)
    assert bootstrap.resampling_units(n) == 2048
    buckets = bootstrap.resampled_improvements(actual, cand, base, **kw)
    # Same centre and spread as resampling the rows themselves, within Monte-Carlo error.
    assert np.std(buckets) == pytest.approx(np.std(rows), rel=0.08)
    assert np.mean(buckets) == pytest.approx(np.mean(rows), abs=0.1 * np.std(rows))
    # Reproducible with the seed, different with another one.
    again = bootstrap.resampled_improvements(actual, cand, base, **kw)
    assert np.array_equal(buckets, again)
    other = bootstrap.resampled_improvements(actual, cand, base, **{**kw, "seed": 4})
    assert not np.array_equal(buckets, other)


def test_gate_result_records_the_method_and_its_units() -> None:
    result = evaluate_gates(preds(ACTUAL, 0.5, 2), preds(ACTUAL, 1.5, 3), SETTINGS).to_dict()
    assert (result["method"], result["method_version"]) == ("paired-bootstrap", 2)
    assert result["units"] == result["n_rows"] == len(ACTUAL)
    assert bootstrap.resampling_units(10**6) == bootstrap.MAX_UNITS


# ------------------------------------------------------ reading and pairing rows


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_predictions_files_are_read_as_csv_with_their_md5(tmp_path: Path) -> None:
    text = (
        'predicted,note,actual,row_id\r\n2.5,x,1,"a,b"\r\n4,"multi\nline",3,é\r\n\r\nnan,,5,#7\r\n'
    )
    pred = read_predictions(write(tmp_path / "p.csv", text))
    assert pred.row_ids.tolist() == [b"a,b", "é".encode(), b"#7"]
    assert pred.actual.tolist() == [1.0, 3.0, 5.0]
    assert pred.predicted[:2].tolist() == [2.5, 4.0] and np.isnan(pred.predicted[2])
    assert pred.md5 == hashlib.md5(text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("row_id,actual\n1,2\n", "lacks column(s) predicted"),
        ("", "lacks column(s) row_id, actual, predicted"),
        ("row_id,actual,predicted\n1,,2\n", "cannot read"),
        ("row_id,actual,predicted\n1,x,2\n", "cannot read"),
        ("row_id,actual,predicted\n1,2\n", "cannot read"),
    ],
)
def test_malformed_predictions_are_bad_input(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        read_predictions(write(tmp_path / "p.csv", text))


def test_rows_from_files_pair_with_rows_given_as_str(tmp_path: Path) -> None:
    ids = ["é", "a,b", "longer-than-eight-bytes", ""]
    lines = "".join(f'"{rid}",{i},{i * 2}\n' for i, rid in enumerate(ids))
    from_file = read_predictions(write(tmp_path / "p.csv", "row_id,actual,predicted\n" + lines))
    given = Predictions(ids[::-1], np.arange(4.0)[::-1], np.zeros(4))
    actual, cand, base = align(from_file, given)
    assert actual.tolist() == [0, 1, 2, 3] and cand.tolist() == [0, 2, 4, 6]
    assert base.tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("width", [3, 12])  # short IDs sort as integers, long ones as bytes
def test_a_file_that_repeats_a_row_id_is_refused(width: int) -> None:
    ids = [f"{i:0{width}d}" for i in (1, 2, 3, 2)]
    twice = Predictions(ids, np.zeros(4), np.zeros(4), source="cand.csv")
    once = Predictions([f"{i:0{width}d}" for i in (1, 2, 3, 4)], np.zeros(4), np.zeros(4))
    for c, b in ((twice, once), (twice, twice)):
        with pytest.raises(UsageError, match=r"cand\.csv repeats row_id"):
            align(c, b)


@pytest.mark.parametrize("width", [3, 12])
def test_different_rows_are_counted_on_each_side(width: int) -> None:
    c = Predictions([f"{i:0{width}d}" for i in (1, 2, 3, 4)], np.zeros(4), np.zeros(4))
    b = Predictions([f"{i:0{width}d}" for i in (4, 3, 9)], np.zeros(3), np.zeros(3))
    with pytest.raises(UsageError, match=r"\(2 row\(s\) only in the candidate, 1 only in the"):
        align(c, b)
