"""Stage `train@<id>`: fit one experiment's model and write its model folder.

Writes ``models/<phase>/<id>/``: model.joblib, preprocessing.joblib (the fitted
scaler and feature list), metadata.json and, for tree models,
feature_importance.csv.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pandas as pd

import artifactctl
from artifactctl.pipeline import features
from artifactctl.pipeline.io import (
    dump_joblib,
    ensure_overwritable,
    library_versions,
    now_iso,
    write_csv,
    write_json,
)

SEED = 0


def _ridge(p: dict[str, Any]) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(alpha=float(p.get("alpha", 1.0)))


def _lasso(p: dict[str, Any]) -> Any:
    from sklearn.linear_model import Lasso

    return Lasso(alpha=float(p.get("alpha", 0.01)), random_state=SEED)


def _gbr(p: dict[str, Any]) -> Any:
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(
        n_estimators=int(p.get("n_estimators", 200)),
        max_depth=int(p.get("max_depth", 3)),
        learning_rate=float(p.get("learning_rate", 0.1)),
        random_state=SEED,
    )


def _random_forest(p: dict[str, Any]) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    depth = p.get("max_depth")
    return RandomForestRegressor(
        n_estimators=int(p.get("n_estimators", 200)),
        max_depth=None if depth is None else int(depth),
        random_state=SEED,
        n_jobs=1,
    )


# Model kinds `artifactctl new --model KIND` accepts.
MODEL_KINDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "ridge": _ridge,
    "lasso": _lasso,
    "gbr": _gbr,
    "random_forest": _random_forest,
}


def experiment(params: dict[str, Any], exp_id: str) -> dict[str, Any]:
    exps = params.get("experiments") or {}
    if exp_id not in exps:
        raise SystemExit(f"experiment {exp_id!r} is not declared in params.yaml")
    return exps[exp_id]


def main(exp_id: str) -> None:
    from sklearn.preprocessing import StandardScaler

    ctx = artifactctl.context()
    params = ctx.params()
    p = experiment(params, exp_id)
    kind = p["model"]
    if kind not in MODEL_KINDS:
        raise SystemExit(f"unknown model kind {kind!r}; known: {', '.join(MODEL_KINDS)}")
    n_clusters = int(params["data"]["n_clusters"])
    out = ctx.path(f"models/{p['phase']}/{exp_id}")
    ensure_overwritable(ctx, out / "model.joblib")

    train = pd.read_csv(ctx.input_path("data/train.csv"))
    x = features.build(train, p.get("features", "base"), n_clusters)
    scaler = StandardScaler().fit(x.values)
    model = MODEL_KINDS[kind](p).fit(scaler.transform(x.values), train["y"].values)

    out.mkdir(parents=True, exist_ok=True)
    names = list(x.columns)
    dump_joblib(model, out / "model.joblib")
    dump_joblib(
        {
            "scaler": scaler,
            "features": names,
            "feature_set": p.get("features", "base"),
            "n_clusters": n_clusters,
        },
        out / "preprocessing.joblib",
    )
    if hasattr(model, "feature_importances_"):
        importance = pd.DataFrame({"feature": names, "importance": model.feature_importances_})
        write_csv(
            importance.sort_values("importance", ascending=False), out / "feature_importance.csv"
        )
    write_json(
        {
            "id": exp_id,
            "phase": p["phase"],
            "model": kind,
            "params": p,
            "features": names,
            "n_train": len(train),
            "created": now_iso(),
            "versions": library_versions(),
        },
        out / "metadata.json",
    )
    print(f"train {exp_id}: {kind} on {len(names)} features -> {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m artifactctl.pipeline.train EXPERIMENT_ID")
    main(sys.argv[1])
