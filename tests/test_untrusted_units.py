"""Names, paths read from files and settings, against generated hostile input (no repos)."""

from __future__ import annotations

import math
import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifactctl.config import load_settings
from artifactctl.errors import SettingsError, UsageError
from artifactctl.layout import validate_name
from artifactctl.safepath import (
    UntrustedMetadata,
    all_md5,
    already_contained,
    checked_id,
    checked_md5,
    contained,
)

REFUSED = ("Cc", "Cf", "Zl", "Zp")
HOSTILE = ["\u2028", "\u2029", "\u0085", "\u202e", "\u200b", "\ufeff", "\x00", "\n", "\x1b"]


@given(st.text(max_size=120))
@settings(max_examples=300, deadline=None)
def test_a_valid_name_is_one_safe_path_component(text: str) -> None:
    try:
        name = validate_name(text)
    except UsageError as exc:
        assert "\n" not in exc.message and "\u2028" not in exc.message.replace(repr(text), "")
        return
    assert name == text and 0 < len(name) <= 100
    assert "/" not in name and ".." not in name and not name.startswith("-")
    assert not any(unicodedata.category(c) in REFUSED for c in name)


@pytest.mark.parametrize("char", HOSTILE)
def test_names_refuse_separators_bidi_and_zero_width_characters(char: str) -> None:
    with pytest.raises(UsageError, match="U\\+"):
        validate_name(f"v2{char}001")


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_a_contained_path_never_leaves_its_folder(text: str) -> None:
    try:
        rel = contained(None, text, what="path", source="f.json")
    except UntrustedMetadata as exc:
        assert exc.message.startswith("f.json: path") and exc.exit_code == 2
        return
    assert not rel.startswith("/") and ".." not in rel.split("/") and rel
    assert os.path.normpath(os.path.join("/r", rel)).startswith("/r/")


@given(st.lists(st.sampled_from(["a", "b.c", ".", "..", "", " x", "é"]), max_size=6).map("/".join))
@settings(max_examples=300, deadline=None)
def test_a_contained_path_is_the_one_pathlib_normalises_to(text: str) -> None:
    from pathlib import PurePosixPath

    path = PurePosixPath(text)
    parts = [p for p in path.parts if p != "."]
    try:
        rel = contained(None, text, what="path", source="f.json")
    except UntrustedMetadata:
        assert path.is_absolute() or ".." in parts or not parts
        return
    assert rel == "/".join(parts) == str(path)


PATH_PARTS = ["a", "b.c", ".", "..", "", " x", "é", "\x00", "a\x00b", ".a", "a.."]


def _unchanged(value: object) -> bool:
    try:
        return contained(None, value, what="path", source="f.json") == value
    except UntrustedMetadata:
        return False


@given(
    st.lists(
        st.one_of(
            st.lists(st.sampled_from(PATH_PARTS), max_size=5).map("/".join),
            st.text(max_size=12),
            st.none(),
            st.integers(),
        ),
        max_size=6,
    )
)
@settings(max_examples=500, deadline=None)
def test_paths_checked_in_bulk_are_those_contained_leaves_unchanged(values: list[object]) -> None:
    assert already_contained(values) == all(_unchanged(v) for v in values)


@given(st.lists(st.one_of(st.from_regex(r"[0-9a-fA-F]{31,33}(\.dir)?", fullmatch=True), st.none())))
@settings(max_examples=300, deadline=None)
def test_md5s_checked_in_bulk_are_those_checked_md5_accepts(values: list[object]) -> None:
    def accepted(value: object) -> bool:
        try:
            return checked_md5(value, what="md5", source="s") == value
        except UntrustedMetadata:
            return False

    assert all_md5(values) == all(accepted(v) for v in values)


@pytest.mark.parametrize("value", [5, None, ["a"], {"a": 1}, "", "/abs", "../x", "a/../../x"])
def test_paths_and_ids_of_the_wrong_kind_are_refused(value: object) -> None:
    with pytest.raises(UntrustedMetadata):
        contained(None, value, what="p", source="s")
    with pytest.raises(UntrustedMetadata):
        checked_id(value, what="id", source="s")


def test_contained_refuses_a_link_on_the_way(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path / "out")
    with pytest.raises(UntrustedMetadata, match="symbolic link"):
        contained(tmp_path / "root", "link/x", what="p", source="s")
    assert contained(tmp_path / "root", "dir/./x", what="p", source="s") == "dir/x"


def _settings(tmp_path: Path, body: str, **env: str) -> object:
    (tmp_path / "pyproject.toml").write_text(body)
    return load_settings(tmp_path, environ=env)


@pytest.mark.parametrize(
    "body",
    [
        "tool = 5\n",
        "[tool.artifactctl]\nlock_timeout = nan\n",
        "[tool.artifactctl]\nlock_timeout = inf\n",
        "[tool.artifactctl.retention]\nmax_age_days = nan\n",
        "[tool.artifactctl.promotion]\nmin_improvement_relative = nan\n",
        "[tool.artifactctl.promotion]\nmin_metrics = {r2 = nan}\n",
        "[tool.artifactctl.promotion]\nseed = -1\n",
        "[tool.artifactctl.registry]\nid_width = -3\n",
        "[tool.artifactctl.registry]\nid_width = 200\n",
        '[tool.artifactctl.registry]\nid_prefix = "../../"\n',
        '[tool.artifactctl.registry]\nid_prefix = "-"\n',
        '[tool.artifactctl.registry]\nid_prefix = "a/b"\n',
        '[tool.artifactctl.registry]\nid_prefix = "v\\u2028"\n',
    ],
)
def test_hostile_settings_are_one_settings_error(tmp_path: Path, body: str) -> None:
    with pytest.raises(SettingsError) as caught:
        _settings(tmp_path, body)
    assert caught.value.exit_code == 2 and "\n" not in caught.value.message


def test_nan_from_the_environment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError):
        _settings(tmp_path, "", ARTIFACTCTL_LOCK_TIMEOUT="nan")


def test_a_preserve_rule_written_with_dot_slash_is_the_same_rule(tmp_path: Path) -> None:
    rules = '[tool.artifactctl]\npreserve = ["./artifacts/reference/x.csv", "a/./b/"]\n'
    assert _settings(tmp_path, rules).preserve == ["artifacts/reference/x.csv", "a/b"]


SCALAR = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.booleans(),
)
KEYS = {
    "": ["lock_timeout", "jobs", "artifacts_root"],
    "retention": ["keep_recent", "max_age_days"],
    "registry": ["id_prefix", "id_width"],
    "promotion": ["seed", "resamples", "max_p_value", "min_improvement_relative"],
}


@given(st.sampled_from([(t, k) for t, ks in KEYS.items() for k in ks]), SCALAR)
@settings(max_examples=300, deadline=None)
def test_settings_are_valid_or_one_settings_error(key: tuple[str, str], value: object) -> None:
    import tempfile

    import tomlkit

    table, name = key
    doc = {name: value} if not table else {table: {name: value}}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "pyproject.toml").write_bytes(
            tomlkit.dumps({"tool": {"artifactctl": doc}}).encode()
        )
        try:
            got = load_settings(Path(tmp), environ={})
        except SettingsError as exc:
            assert exc.exit_code == 2
            return
    for number in (got.lock_timeout, got.retention.max_age_days, got.promotion.max_p_value):
        assert math.isfinite(number)
    assert 1 <= got.registry.id_width <= 12 and got.promotion.seed >= 0
    assert "/" not in got.registry.id_prefix and not got.registry.id_prefix.startswith("-")
