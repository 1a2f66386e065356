"""What a user sees in an 80-column terminal, compared with golden files; plain and unstyled
output where it is asked for (NO_COLOR) or not a terminal.

The golden files are tests/golden/*.txt. After an intended change of the output, regenerate
them with ``UPDATE_GOLDEN=1 pytest tests/test_golden.py`` and review the diff. Volatile parts
are normalised first: timestamps become ``YYYY-MM-DDTHH:MM:SS+00:00`` (same width), verify's
time and speed become ``<SECONDS>`` and ``<RATE>``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from support import invoke, point_remote

GOLDEN = Path(__file__).resolve().parent / "golden"
NARROW = {"COLUMNS": "80", "LINES": "40"}
# the ledger records the user: the same name everywhere keeps the columns' widths
USER = {"USER": "tester", "LOGNAME": "tester"}
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00")


@pytest.fixture(scope="module")
def promoted(built_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reproduced reference pipeline with v2-006 promoted over the baseline."""
    base = tmp_path_factory.mktemp("golden")
    repo = base / "repo"
    shutil.copytree(built_pipeline, repo, symlinks=True)
    point_remote(repo, base / "remote")
    result = invoke(repo, "promote", "v2-006", env=USER)
    assert result.exit_code == 0, result.stderr
    return repo


def normalise(text: str) -> str:
    text = TIME.sub("YYYY-MM-DDTHH:MM:SS+00:00", text)
    lines = text.splitlines()
    # verify's summary wraps where its figures end: compare it as one line
    for i, line in enumerate(lines):
        if re.match(r"\d+ files \(", line):
            summary = " ".join(lines[i:])
            summary = re.sub(r"in [\d.]+ s \(\d+ MB/s\)", "in <SECONDS> s (<RATE> MB/s)", summary)
            lines[i:] = [summary]
            break
    return "\n".join(lines) + "\n"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    got = normalise(text)
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(got)
    assert path.is_file(), f"no golden file {path}: run with UPDATE_GOLDEN=1"
    assert got == path.read_text()
    assert all(len(line) <= 80 for line in got.splitlines() if "<SECONDS>" not in line)
    assert not any(line.endswith(" ") for line in got.splitlines())


@pytest.mark.parametrize(
    ("name", "argv", "code"),
    [
        ("list", ("list",), 0),
        ("status", ("status",), 0),
        ("show", ("show", "v2-006"), 0),
        ("promote_dry_run", ("promote", "v2-002", "--dry-run"), 0),
    ],
)
def test_tables_at_80_columns_match_the_golden_files(
    promoted: Path, name: str, argv: tuple[str, ...], code: int
) -> None:
    result = invoke(promoted, *argv, env=NARROW)
    assert result.exit_code == code, result.stderr
    check_golden(name, result.stdout)


def test_verify_with_problems_at_80_columns_matches_the_golden_file(promoted: Path) -> None:
    data = promoted / "artifacts/data/eval.csv"
    original = data.read_bytes()
    extra = promoted / "artifacts/models/candidates/v2-006/notes.txt"
    try:
        data.write_bytes(original.replace(b"\n", b"\r\n", 1))
        extra.write_text("an extra file in a tracked folder\n")
        # --deep: every file re-hashed, so the figures do not depend on earlier commands
        result = invoke(promoted, "verify", "--deep", "--no-tests", env=NARROW)
    finally:
        data.write_bytes(original)
        extra.unlink()
    assert result.exit_code == 1, result.stderr
    check_golden("verify_problems", result.stdout)


def test_ids_paths_and_gate_names_never_break_at_80_columns(promoted: Path) -> None:
    outputs = [
        invoke(promoted, *argv, env=NARROW).stdout
        for argv in (("list",), ("status",), ("show", "v2-006"), ("promote", "v2-002", "--dry-run"))
    ]
    words = {w for text in outputs for w in text.split()}
    for whole in ("v2-001", "v2-002", "v2-006", "baseline", "candidates", "p_value"):
        assert whole in words
    assert "min_improvement_relative" in words
    # a folded path breaks only after a "/": its pieces, joined, are a real path
    paths: list[str] = []
    for line in outputs[1].splitlines()[3:]:
        if not line.strip():
            break
        cells = line.split()
        if len(cells) > 1:
            paths.append(cells[0])
        else:
            assert paths[-1].endswith("/"), line
            paths[-1] += cells[0]
    assert any(p.endswith("/pred_vs_actual.csv") for p in paths)
    assert all((promoted / "artifacts" / p).exists() for p in paths)


def test_no_color_means_no_styling_at_all(promoted: Path) -> None:
    terminal = {"TTY_COMPATIBLE": "1", "TERM": "xterm-256color", **NARROW}
    styled = invoke(promoted, "list", env=terminal)
    assert "\x1b[" in styled.stdout  # a terminal gets bold headers and colours
    plain = invoke(promoted, "list", env={**terminal, "NO_COLOR": "1"})
    assert plain.exit_code == 0
    assert "\x1b[" not in plain.stdout
    error = invoke(promoted, "show", "v2-999", env={**terminal, "NO_COLOR": "1"})
    assert error.exit_code == 2 and "\x1b[" not in error.stderr
    assert error.stderr.startswith("error: ")


def test_piped_output_is_plain_text_without_padding(promoted: Path) -> None:
    for argv in (("list",), ("status",), ("show", "v2-006"), ("history",)):
        out = invoke(promoted, *argv).stdout
        assert "\x1b[" not in out
        assert not any(line.endswith(" ") for line in out.splitlines()), argv
