"""dvc.yaml read into resolved stages: one foreach / ${} resolver, lenient or strict."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from artifactctl.dvc.stages import Output, declared_kinds, expected_stages, load_stages
from artifactctl.errors import UsageError

PARAMS = """
data:
  dir: data
experiments:
  v-1: {phase: baseline}
  v-2: {phase: candidates}
"""


def write(root: Path, dvc_yaml: str, params: str = PARAMS) -> Path:
    (root / "dvc.yaml").write_text(textwrap.dedent(dvc_yaml))
    (root / "params.yaml").write_text(params)
    return root


def test_foreach_instances_are_named_by_key_and_resolved_from_item_and_params(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        """
        stages:
          prep:
            cmd:
              - python prep.py
              - touch artifacts/${data.dir}/done
            outs:
              - artifacts/${data.dir}/base.txt
              - artifacts/reference/curated.csv: {persist: true}
          fit:
            foreach: ${experiments}
            do:
              cmd: python fit.py ${key}
              deps:
                - artifacts/${data.dir}/base.txt
              outs:
                - artifacts/models/${item.phase}/${key}
              metrics:
                - artifacts/experiments/${key}/metrics.json: {cache: false}
          listed:
            foreach: [a, b]
            do:
              cmd: echo ${item}
              outs:
                - out/${item}.txt
        """,
    )
    stages = {s.name: s for s in load_stages(tmp_path, strict=True)}
    assert list(stages) == ["prep", "fit@v-1", "fit@v-2", "listed@a", "listed@b"]
    assert stages["prep"].cmd == "python prep.py && touch artifacts/data/done"
    assert stages["prep"].outs == (
        Output("artifacts/data/base.txt", "out"),
        Output("artifacts/reference/curated.csv", "out", persist=True),
    )
    fit = stages["fit@v-2"]
    assert (fit.key, fit.cmd) == ("v-2", "python fit.py v-2")
    assert fit.deps == ("artifacts/data/base.txt",)
    assert fit.outs == (
        Output("artifacts/models/candidates/v-2", "out"),
        Output("artifacts/experiments/v-2/metrics.json", "metrics", cache=False),
    )
    assert stages["listed@b"].out_paths == ("out/b.txt",)
    assert expected_stages(tmp_path) == list(stages)
    assert declared_kinds(tmp_path)["artifacts/experiments/v-1/metrics.json"] == (
        "metrics",
        False,
    )


def test_unresolvable_templates_stay_as_written_unless_strict(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        stages:
          fit:
            foreach: ${experiments}
            do:
              cmd: python fit.py ${key} ${nope.missing}
              outs:
                - artifacts/${item.absent}/${key}
                - artifacts/${experiments}/x
        """,
    )
    fit = load_stages(tmp_path)[0]
    assert fit.cmd == "python fit.py v-1 ${nope.missing}"
    # a mapping is no value either: DVC cannot put it in a path
    assert fit.out_paths == ("artifacts/${item.absent}/v-1", "artifacts/${experiments}/x")
    with pytest.raises(UsageError, match=r"cannot resolve \$\{item.absent\} for a test run"):
        load_stages(tmp_path, strict=True)


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ("cmd: ''\nouts: [a]", "has no command"),
        ("outs: [a]", "has no command"),
        ("cmd: [ok, 3]", "has no command"),
        ("cmd: run\nwdir: sub", "uses wdir"),
    ],
)
def test_strict_refuses_stages_a_test_run_cannot_execute(
    tmp_path: Path, stage: str, message: str
) -> None:
    write(tmp_path, "stages:\n  s:\n" + textwrap.indent(stage, "    ") + "\n")
    load_stages(tmp_path)  # lenient: a reader only needs the outputs
    with pytest.raises(UsageError, match=message):
        load_stages(tmp_path, strict=True)


def test_a_stage_that_is_not_a_mapping_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path, "stages:\n  s: [1, 2]\n")
    with pytest.raises(UsageError, match="must be a mapping"):
        load_stages(tmp_path)


def test_no_dvc_yaml_means_no_stages(tmp_path: Path) -> None:
    assert load_stages(tmp_path) == []
    assert declared_kinds(tmp_path) == {}
