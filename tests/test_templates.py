"""Registry settings and their path templates: any layout, never a path out of the root."""

from __future__ import annotations

import string
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from artifactctl.config import Registry, Settings, load_settings
from artifactctl.errors import SettingsError, UsageError
from artifactctl.project import Project
from artifactctl.registry.experiments import experiments_in
from artifactctl.safepath import UntrustedMetadata
from artifactctl.templates import check_template, fields_of, render

WORD = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=12).filter(
    lambda w: not w.startswith("-")
)
FIELD = st.sampled_from(["id", "phase", "source", "build", "base_model"])
PART = st.one_of(
    WORD,
    FIELD.map(lambda f: "{" + f + "}"),
    st.tuples(FIELD, WORD).map(lambda t: "{" + t[0] + "}" + "_" + t[1]),
)
TEMPLATE = st.lists(PART, min_size=1, max_size=5).map("/".join)
VALUES = st.fixed_dictionaries({f: WORD for f in ["id", "phase", "source", "build", "base_model"]})


def test_the_defaults_are_the_reference_layout(tmp_path: Path) -> None:
    project = Project(tmp_path, Settings())
    params = {"experiments": {"v2-001": {"phase": "baseline", "model": "ridge"}}}
    exp = experiments_in(params)["v2-001"]
    assert exp.model_dir(project) == tmp_path / "artifacts/models/baseline/v2-001"
    assert (
        exp.predictions_file(project) == tmp_path / "artifacts/experiments/v2-001/predictions.csv"
    )
    assert exp.metrics_file(project) == tmp_path / "artifacts/experiments/v2-001/metrics.json"
    assert exp.experiment_dir(project) == tmp_path / "artifacts/experiments/v2-001"
    assert project.tests_dir == tmp_path / "artifacts/tests"
    assert project.registry_dir == tmp_path / "artifacts/models/production"


@given(TEMPLATE, VALUES)
def test_any_accepted_template_renders_inside_the_root(template: str, values: dict) -> None:
    check_template(template, "registry.model_dir")
    rel = render(template, values, what="model_dir", source="experiment x")
    path = PurePosixPath(rel)
    assert not path.is_absolute() and ".." not in path.parts and rel == path.as_posix()
    for name in fields_of(template):
        assert values[name] in path.parts or any(values[name] in p for p in path.parts)


@given(TEMPLATE, VALUES, FIELD, st.sampled_from(["..", "a/b", "/etc", "x\x00y", ".", " a"]))
def test_a_value_that_is_not_one_path_component_is_refused(
    template: str, values: dict, field: str, bad: str
) -> None:
    if field not in fields_of(template):
        template = f"{template}/{{{field}}}"
    with pytest.raises(UntrustedMetadata):
        render(template, {**values, field: bad}, what="model_dir", source="params.yaml")


@pytest.mark.parametrize(
    "template",
    ["/abs/{id}", "../{id}", "a/../../{id}", "{id:>5}", "{id!r}", "{item.phase}", "{0}", "", "."],
)
def test_bad_templates_are_settings_errors(template: str) -> None:
    with pytest.raises(SettingsError):
        check_template(template, "registry.model_dir")


def test_a_missing_field_names_it_and_the_template() -> None:
    with pytest.raises(UsageError, match=r"\{source\}"):
        render("data/{source}/{id}", {"id": "m-1"}, what="model_dir", source="experiment m-1")


def test_registries_and_family_fields_load_and_are_checked(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        """
[tool.artifactctl]
artifacts_root = "."
tests_dir = "scratch/tests"
[tool.artifactctl.registries.ranker]
experiments = "ranker"
model_dir = "data/{source}/{id}"
fields = {source = "web"}
id_prefix = "r-"
"""
    )
    settings = load_settings(tmp_path, environ={})
    assert settings.registries["ranker"] == Registry(
        experiments="ranker",
        model_dir="data/{source}/{id}",
        fields={"source": "web"},
        id_prefix="r-",
    )
    env = {"ARTIFACTCTL_REGISTRY__MODEL_DIR": "out/{id}", "ARTIFACTCTL_REGISTRY__FIELDS": "a=b"}
    overridden = load_settings(tmp_path, environ=env)
    assert overridden.registry.model_dir == "out/{id}" and overridden.registry.fields == {"a": "b"}
    for body, message in [
        ('[tool.artifactctl.registries.x]\nmodel_dir = "../{id}"\n', "model_dir"),
        ('[tool.artifactctl.registries."a b"]\n', "registry name"),
        ('[tool.artifactctl.registry]\nrow_id = "y"\nactual = "y"\n', "three column"),
        ('[tool.artifactctl]\ntests_dir = "."\n', "tests_dir"),
        ("[tool.artifactctl]\nregistries = 3\n", "table of tables"),
    ]:
        (tmp_path / "pyproject.toml").write_text(body)
        with pytest.raises(SettingsError, match=message):
            load_settings(tmp_path, environ={})


def test_several_registries_need_a_choice(tmp_path: Path) -> None:
    named = {"a": Registry(experiments="a"), "b": Registry(experiments="b")}
    project = Project(tmp_path, Settings(registries=named))
    with pytest.raises(UsageError, match="several registries") as refused:
        _ = project.registry
    assert "--registry" in (refused.value.hint or "")
    assert project.with_registry("b").registry.experiments == "b"
    assert project.with_registry("b").registry_dir == tmp_path / "artifacts/models/production/b"
    with pytest.raises(UsageError, match="unknown registry"):
        project.with_registry("c")
    only = Project(tmp_path, Settings(registries={"a": named["a"]}))
    assert only.registry.experiments == "a"  # the only one is the default
