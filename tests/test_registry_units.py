"""Registry building blocks without a DVC repository: IDs, -S parsing, YAML round trips."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from artifactctl.dvc.edit import add_experiment, remove_experiment
from artifactctl.errors import CheckFailed, NotVerified, UsageError
from artifactctl.registry.ledger import make_event, replay, split_id
from artifactctl.registry.new import parse_sets

PARAMS = """\
# top comment
data:
  seed: 42        # trailing comment
experiments:
  v2-001:
    phase: baseline
    model: ridge   # kept
  v2-006:
    phase: candidates
    model: gbr
"""

keys = st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True).filter(
    lambda k: k not in {"phase", "model", "desc"}
)
values = st.one_of(
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20),
)


@settings(max_examples=40, deadline=None)
@given(body=st.dictionaries(keys, values, max_size=5), number=st.integers(2, 999))
def test_added_experiment_round_trips_and_keeps_every_other_line(body: dict, number: int) -> None:
    exp_id = f"v2-{number:03d}"
    if exp_id == "v2-006":
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.yaml"
        path.write_text(PARAMS)
        entry = {"phase": "candidates", "model": "lasso", **body}
        assert add_experiment(path, exp_id, entry)
        text = path.read_text()
        assert yaml.safe_load(text)["experiments"][exp_id] == entry
        for line in PARAMS.splitlines():
            assert line in text.splitlines()
        ids = list(yaml.safe_load(text)["experiments"])
        assert ids == sorted(ids)
        assert remove_experiment(path, exp_id) == entry
        assert path.read_text() == PARAMS


@settings(max_examples=40, deadline=None)
@given(key=keys, value=st.one_of(st.integers(-1000, 1000), st.booleans()))
def test_set_values_are_parsed_as_yaml_scalars(key: str, value: object) -> None:
    raw = str(value).lower() if isinstance(value, bool) else str(value)
    assert parse_sets([f"{key}={raw}"]) == {key: value}


@pytest.mark.parametrize("bad", ["noequals", "=1", "a b=1", "phase=x", "model=ridge", "x=[1, 2]"])
def test_bad_set_items_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_sets([bad])


def test_an_experiment_failing_verification_is_refused_as_bad_input() -> None:
    # promote refuses it before any gate runs: exit 2, like every other refusal
    assert issubclass(NotVerified, UsageError) and not issubclass(NotVerified, CheckFailed)
    assert NotVerified("x").exit_code == 2


@given(prefix=st.sampled_from(["v2-", "exp", "m_"]), number=st.integers(0, 10**6))
def test_split_id_finds_the_number(prefix: str, number: int) -> None:
    assert split_id(f"{prefix}{number:03d}") == (prefix, number)


def test_replay_is_a_stack_of_promotions() -> None:
    def promote(exp_id: str) -> dict:
        return make_event("promote", exp_id, phase="candidates", files={"m": exp_id})

    events = [
        make_event("new", "v2-010"),
        promote("v2-001"),
        promote("v2-002"),
        promote("v2-003"),
        make_event("rollback", "v2-002"),
        make_event("archive", "v2-003"),
    ]
    state = replay(events)
    assert (state.current.id, state.previous.id) == ("v2-002", "v2-001")
    assert state.high_water == {"v2-": 10}
    assert state.archived == {"v2-003"}
    state = replay([*events, make_event("rollback", "v2-001")])
    assert (state.current.id, state.previous) == ("v2-001", None)


def test_added_words_yaml_1_1_reads_as_booleans_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    body = {"phase": "candidates", "model": "ridge", "on": "yes", "off": "No", "flag": True}
    assert add_experiment(path, "v2-007", body)
    assert yaml.safe_load(path.read_text())["experiments"]["v2-007"] == body
    assert remove_experiment(path, "v2-007") == body
    assert path.read_text() == PARAMS
