"""Settings: [tool.artifactctl] in pyproject.toml, ARTIFACTCTL_* overrides, clear errors."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifactctl.config import Settings, load_settings
from artifactctl.errors import SettingsError


def write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(body)
    return tmp_path


def test_defaults_without_pyproject(tmp_path: Path) -> None:
    assert load_settings(tmp_path, environ={}) == Settings()


def test_values_are_read_from_the_table(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
[tool.artifactctl]
artifacts_root = "store"
preserve = ["store/reference/*.csv"]
[tool.artifactctl.retention]
keep_recent = 2
[tool.artifactctl.promotion]
metric = "mae"
max_metrics = {rmse = 1.5}
""",
    )
    s = load_settings(tmp_path, environ={})
    assert s.artifacts_root == "store"
    assert s.preserve == ["store/reference/*.csv"]
    assert s.retention.keep_recent == 2
    assert s.retention.max_age_days == 30  # default kept
    assert s.promotion.metric == "mae"
    assert s.promotion.max_metrics == {"rmse": 1.5}


def test_unknown_key_names_the_key_and_the_known_ones(tmp_path: Path) -> None:
    write(tmp_path, "[tool.artifactctl]\npreserved = []\n")
    with pytest.raises(SettingsError, match=r"unknown setting 'preserved'.*preserve"):
        load_settings(tmp_path, environ={})


def test_unknown_nested_key(tmp_path: Path) -> None:
    write(tmp_path, "[tool.artifactctl.retention]\nkeep = 3\n")
    with pytest.raises(SettingsError, match=r"retention"):
        load_settings(tmp_path, environ={})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[tool.artifactctl]\njobs = "4"\n', r"jobs must be an integer"),
        ('[tool.artifactctl]\npreserve = "a.csv"\n', r"preserve must be a list of strings"),
        ("[tool.artifactctl]\nretention = 5\n", r"retention must be a table"),
        ("[tool.artifactctl.retention]\nkeep_recent = true\n", r"keep_recent must be an integer"),
        ('[tool.artifactctl]\ndefault_mode = "prod"\n', r"default_mode must be one of"),
        ('[tool.artifactctl]\nartifacts_root = "../elsewhere"\n', r"artifacts_root must be"),
        ('[tool.artifactctl]\npreserve = ["/etc/passwd"]\n', r"preserve rule"),
        ('[tool.artifactctl.promotion]\ndirection = "down"\n', r"direction"),
        ("[tool.artifactctl\n", r"not valid TOML"),
        ('[tool.artifactctl.registry]\nmodel_file = "../../etc/x"\n', r"model_file"),
        ('[tool.artifactctl.registry]\nmodel_file = ""\n', r"model_file"),
        ('[tool.artifactctl.registry]\nmodel_file = "/abs/model.pt"\n', r"model_file"),
        ('[tool.artifactctl.registry]\npreprocessing_file = "a//b"\n', r"preprocessing_file"),
    ],
)
def test_wrong_values_are_rejected_clearly(tmp_path: Path, body: str, message: str) -> None:
    write(tmp_path, body)
    with pytest.raises(SettingsError, match=message):
        load_settings(tmp_path, environ={})


def test_environment_overrides_pyproject(tmp_path: Path) -> None:
    write(tmp_path, "[tool.artifactctl.retention]\nkeep_recent = 2\n")
    env = {
        "ARTIFACTCTL_RETENTION__KEEP_RECENT": "7",
        "ARTIFACTCTL_DEFAULT_MODE": "production",
        "ARTIFACTCTL_PRESERVE": "a.csv, b/*.csv",
        "ARTIFACTCTL_PROMOTION__MAX_P_VALUE": "0.01",
        "ARTIFACTCTL_MODE": "test",  # not a setting: read by mode routing
    }
    s = load_settings(tmp_path, environ=env)
    assert s.retention.keep_recent == 7
    assert s.default_mode == "production"
    assert s.preserve == ["a.csv", "b/*.csv"]
    assert s.promotion.max_p_value == 0.01


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("ARTIFACTCTL_RETENTION__KEEP_RECENT", "many", r"must be an integer"),
        ("ARTIFACTCTL_JOBZ", "2", r"unknown setting variable ARTIFACTCTL_JOBZ"),
        ("ARTIFACTCTL_RETENTION__NOPE", "1", r"unknown setting variable"),
        ("ARTIFACTCTL_RETENTION", "1", r"unknown setting variable"),
    ],
)
def test_bad_environment_overrides(tmp_path: Path, var: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(tmp_path, environ={var: value})


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.floats(0, 3650, allow_nan=False))
def test_any_valid_retention_roundtrips_through_the_environment(keep: int, days: float) -> None:
    env = {
        "ARTIFACTCTL_RETENTION__KEEP_RECENT": str(keep),
        "ARTIFACTCTL_RETENTION__MAX_AGE_DAYS": repr(days),
    }
    s = load_settings(Path("/nonexistent-dir-for-settings"), environ=env)
    assert (s.retention.keep_recent, s.retention.max_age_days) == (keep, days)


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=20))
def test_any_unknown_variable_is_an_error_never_ignored(name: str) -> None:
    from artifactctl.config import NON_SETTING_ENV

    known = {"ARTIFACTCTL_" + f.upper() for f in Settings.__dataclass_fields__} | NON_SETTING_ENV
    var = "ARTIFACTCTL_" + name.upper()
    if var in known or "__" in name:
        return
    with pytest.raises(SettingsError):
        load_settings(Path("/nonexistent-dir-for-settings"), environ={var: "1"})


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30), max_size=5))
def test_preserve_rules_are_relative_or_rejected(rules: list[str]) -> None:
    env = {"ARTIFACTCTL_PRESERVE": ",".join(r.replace(",", "") for r in rules)}
    try:
        s = load_settings(Path("/nonexistent-dir-for-settings"), environ=env)
    except SettingsError:
        return
    for rule in s.preserve:
        assert not rule.startswith("/")
        assert ".." not in Path(rule).parts


def test_mode_is_a_str_enum_that_reads_as_its_value(tmp_path: Path) -> None:
    import json

    from artifactctl.config import MODES, Mode

    write(tmp_path, '[tool.artifactctl]\ndefault_mode = "production"\n')
    mode = load_settings(tmp_path, environ={}).default_mode
    assert mode is Mode.PRODUCTION and mode == "production"
    assert f"{mode}" == "production" and json.dumps({"mode": mode}) == '{"mode": "production"}'
    assert MODES == ("test", "production")
