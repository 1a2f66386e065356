"""The reference pipeline: `dvc repro` on a fresh copy builds every artifact, once."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from support import dvc, invoke, sha256

EXPERIMENTS = {"v2-001": "baseline", "v2-002": "candidates", "v2-006": "candidates"}


def test_every_experiment_has_its_model_folder(built_pipeline: Path) -> None:
    for exp, phase in EXPERIMENTS.items():
        folder = built_pipeline / "artifacts/models" / phase / exp
        for name in ("model.joblib", "preprocessing.joblib", "metadata.json"):
            assert (folder / name).is_file(), f"{exp}: {name}"
        meta = json.loads((folder / "metadata.json").read_text())
        assert meta["id"] == exp and meta["phase"] == phase
        assert meta["features"] and meta["created"]
        assert {"python", "scikit-learn", "numpy", "pandas", "joblib"} <= set(meta["versions"])
    # only the tree model has feature importances
    assert (built_pipeline / "artifacts/models/candidates/v2-006/feature_importance.csv").is_file()
    assert not (built_pipeline / "artifacts/models/baseline/v2-001/feature_importance.csv").exists()


def test_every_experiment_is_evaluated_on_the_same_rows(built_pipeline: Path) -> None:
    rows = None
    for exp in EXPERIMENTS:
        folder = built_pipeline / "artifacts/experiments" / exp
        metrics = json.loads((folder / "metrics.json").read_text())
        assert {"rmse", "mae", "r2", "n_eval", "drift_max_abs"} <= set(metrics)
        predictions = pd.read_csv(folder / "predictions.csv")
        assert list(predictions.columns) == ["row_id", "actual", "predicted"]
        assert len(predictions) == metrics["n_eval"]
        rows = predictions["row_id"].tolist() if rows is None else rows
        assert predictions["row_id"].tolist() == rows
        assert json.loads((folder / "params.json").read_text())["phase"] == EXPERIMENTS[exp]
        assert json.loads((folder / "summary.json").read_text())["metrics"] == metrics


def test_models_rank_as_designed(built_pipeline: Path) -> None:
    rmse = {
        exp: json.loads((built_pipeline / f"artifacts/experiments/{exp}/metrics.json").read_text())[
            "rmse"
        ]
        for exp in EXPERIMENTS
    }
    # the interaction features and the boosted trees both beat the ridge baseline
    assert rmse["v2-002"] < rmse["v2-001"] and rmse["v2-006"] < rmse["v2-001"]


def test_dvc_metrics_and_plots_render(built_pipeline: Path) -> None:
    metrics = json.loads(dvc(built_pipeline, "metrics", "show", "--json").stdout)
    assert metrics  # DVC found the declared metrics files
    plots = dvc(built_pipeline, "plots", "show", "--json").stdout
    assert "residuals.csv" in plots and "pred_vs_actual.csv" in plots


def test_reference_stage_keeps_a_curated_file(pipeline_repo: Path) -> None:
    ref = pipeline_repo / "artifacts/reference/healthy_cluster_avg.csv"
    curated = ref.read_text().splitlines()
    curated[1] = curated[1].rsplit(",", 1)[0] + ",0.123456"
    ref.write_text("\n".join(curated) + "\n")
    digest = sha256(ref)
    dvc(pipeline_repo, "repro", "-q")
    assert sha256(ref) == digest  # persist + create-if-absent: the curated copy survives repro


@pytest.mark.slow
def test_fresh_copy_reproduces_then_second_repro_does_nothing(fresh_pipeline: Path) -> None:
    repo = fresh_pipeline
    result = invoke(repo, "status", "--json")
    doc = json.loads(result.stdout)
    assert doc["artifacts"] == [] and len(doc["never_run"]) == 8

    dvc(repo, "repro")
    lock = sha256(repo / "dvc.lock")
    again = dvc(repo, "repro")
    assert "Data and pipelines are up to date." in again.stdout
    assert sha256(repo / "dvc.lock") == lock

    result = invoke(repo, "status", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["ok"] and doc["never_run"] == []
    assert doc["summary"]["total"] == 2 + 1 + 3 + 3 * 6

    dvc(repo, "push")
    result = invoke(repo, "status", "--cloud", "--json")
    assert result.exit_code == 0, result.stdout
