"""Stage `reference`: seed the curated baseline `reference/healthy_cluster_avg.csv`.

The file belongs to people once it exists (a baseline computed from production
data and adjusted by hand), so this stage only creates it when it is absent and
never overwrites it; dvc.yaml marks the output ``persist`` so that DVC does not
delete it first either.
"""

from __future__ import annotations

import pandas as pd

import artifactctl
from artifactctl.pipeline.features import cluster_means
from artifactctl.pipeline.io import write_csv


def main() -> None:
    ctx = artifactctl.context()
    rel = "reference/healthy_cluster_avg.csv"
    target = ctx.path(rel)
    if ctx.input_path(rel).exists():  # a test run reads production's curated copy
        print(f"reference: keeping the curated {target.name}")
        return
    train = pd.read_csv(ctx.input_path("data/train.csv"))
    write_csv(cluster_means(train).round(6), target)
    print(f"reference: seeded {target.name} from the training data")


if __name__ == "__main__":
    main()
