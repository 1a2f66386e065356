"""Stage `generate`: a deterministic synthetic regression dataset (train + eval splits)."""

from __future__ import annotations

import numpy as np
import pandas as pd

import artifactctl
from artifactctl.pipeline.features import RAW
from artifactctl.pipeline.io import write_csv


def make(
    n: int, rng: np.random.Generator, n_clusters: int, noise: float, shift: float, start: int
) -> pd.DataFrame:
    cluster = rng.integers(0, n_clusters, size=n)
    x = rng.normal(size=(n, len(RAW))) + shift
    offsets = np.linspace(-1.5, 1.5, n_clusters)
    y = (
        2.0 * x[:, 0]
        - 1.0 * x[:, 1]
        + 1.5 * x[:, 2] * x[:, 3]
        + 2.0 * np.sin(x[:, 4])
        + 0.3 * x[:, 5] ** 2
        + offsets[cluster]
        + rng.normal(scale=noise, size=n)
    )
    frame = pd.DataFrame(x, columns=RAW)
    frame.insert(0, "cluster", cluster)
    frame.insert(0, "row_id", np.arange(start, start + n))
    frame["y"] = y
    return frame


def main() -> None:
    ctx = artifactctl.context()
    p = ctx.params()["data"]
    rng = np.random.default_rng(int(p["seed"]))
    k, noise = int(p["n_clusters"]), float(p["noise"])
    train = make(int(p["n_train"]), rng, k, noise, 0.0, start=0)
    evaluation = make(
        int(p["n_eval"]), rng, k, noise, float(p.get("eval_drift", 0.0)), start=len(train)
    )
    write_csv(train, ctx.path("data/train.csv"))
    write_csv(evaluation, ctx.path("data/eval.csv"))
    print(f"generate: {len(train)} train rows, {len(evaluation)} eval rows -> {ctx.path('data')}")


if __name__ == "__main__":
    main()
