"""Feature sets: which columns a model sees. Shared by train and evaluate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

RAW = ["x0", "x1", "x2", "x3", "x4", "x5"]
FEATURE_SETS = ("base", "interactions")


def build(frame: pd.DataFrame, feature_set: str, n_clusters: int) -> pd.DataFrame:
    if feature_set not in FEATURE_SETS:
        raise SystemExit(f"unknown feature set {feature_set!r}; known: {', '.join(FEATURE_SETS)}")
    out = frame[RAW].astype(float).copy()
    for c in range(1, n_clusters):
        out[f"cluster_{c}"] = (frame["cluster"] == c).astype(float)
    if feature_set == "interactions":
        out["x2_x3"] = frame["x2"] * frame["x3"]
        out["sin_x4"] = np.sin(frame["x4"])
    return out


def cluster_means(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-cluster averages of the raw features (the 'healthy cluster' baseline)."""
    grouped = frame.groupby("cluster")[RAW].mean().reset_index()
    return grouped.sort_values("cluster").reset_index(drop=True)


def drift(current: pd.DataFrame, reference: pd.DataFrame) -> dict[str, Any]:
    """Largest absolute difference of per-cluster feature means from the reference."""
    merged = current.merge(reference, on="cluster", suffixes=("", "_ref"))
    diffs = {col: float((merged[col] - merged[f"{col}_ref"]).abs().max()) for col in RAW}
    worst = max(diffs, key=lambda k: diffs[k])
    return {"max_abs_diff": diffs[worst], "feature": worst, "clusters": len(merged)}
