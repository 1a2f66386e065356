"""Stage `evaluate@<id>`: score one experiment on the evaluation split.

Writes ``experiments/<id>/``: metrics.json (DVC metrics), predictions.csv
(row_id, actual, predicted: the promotion gates resample it), params.json (the
experiment's parameters as trained), summary.json, and the plots' data.
"""

from __future__ import annotations

import sys

import joblib
import numpy as np
import pandas as pd

import artifactctl
from artifactctl.pipeline import features
from artifactctl.pipeline.io import ensure_overwritable, now_iso, write_csv, write_json
from artifactctl.pipeline.train import experiment


def main(exp_id: str) -> None:
    ctx = artifactctl.context()
    params = ctx.params()
    p = experiment(params, exp_id)
    out = ctx.path(f"experiments/{exp_id}")
    ensure_overwritable(ctx, out / "metrics.json")
    model_dir = ctx.input_path(f"models/{p['phase']}/{exp_id}")
    model = joblib.load(model_dir / "model.joblib")
    prep = joblib.load(model_dir / "preprocessing.joblib")

    evaluation = pd.read_csv(ctx.input_path("data/eval.csv"))
    x = features.build(evaluation, prep["feature_set"], prep["n_clusters"])
    predicted = model.predict(prep["scaler"].transform(x[prep["features"]].values))
    actual = evaluation["y"].to_numpy()
    residual = actual - predicted

    reference = pd.read_csv(ctx.input_path("reference/healthy_cluster_avg.csv"))
    drift = features.drift(features.cluster_means(evaluation), reference)

    ss_res = float(np.sum(residual**2))
    ss_tot = float(np.sum((actual - actual.mean()) ** 2))
    metrics = {
        "rmse": float(np.sqrt(np.mean(residual**2))),
        "mae": float(np.mean(np.abs(residual))),
        "r2": 1.0 - ss_res / ss_tot,
        "n_eval": len(actual),
        "drift_max_abs": drift["max_abs_diff"],
    }

    predictions = pd.DataFrame(
        {"row_id": evaluation["row_id"], "actual": actual, "predicted": predicted}
    )
    write_csv(predictions, out / "predictions.csv")
    write_csv(
        pd.DataFrame({"predicted": predicted, "residual": residual}),
        out / "plots" / "residuals.csv",
    )
    write_csv(predictions[["actual", "predicted"]], out / "plots" / "pred_vs_actual.csv")
    write_json(p, out / "params.json")
    write_json(
        {
            "id": exp_id,
            "phase": p["phase"],
            "model": p["model"],
            "desc": p.get("desc", ""),
            "metrics": metrics,
            "drift": drift,
            "evaluated": now_iso(),
        },
        out / "summary.json",
    )
    write_json(metrics, out / "metrics.json")
    print(f"evaluate {exp_id}: rmse={metrics['rmse']:.4f} r2={metrics['r2']:.4f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m artifactctl.pipeline.evaluate EXPERIMENT_ID")
    main(sys.argv[1])
