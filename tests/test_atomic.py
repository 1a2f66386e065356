"""fs.atomic: a file is the old one or the whole new one, and a leftover is recognisable."""

from __future__ import annotations

from pathlib import Path

import pytest

from artifactctl.fs.atomic import (
    atomic_copy,
    atomic_output,
    atomic_write_bytes,
    atomic_write_json,
    read_json,
)


def test_atomic_output_writes_beside_the_target_under_a_recognisable_name(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "model.joblib"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent
        assert tmp.name.startswith(".model.joblib.") and tmp.name.endswith(".tmp")
        assert not target.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.joblib"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_writes_replace_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "data.json"
    atomic_write_json(target, {"b": 1, "a": [1, 2]})
    assert target.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    assert read_json(target) == {"a": [1, 2], "b": 1}
    atomic_write_bytes(target, b"x")
    assert target.read_bytes() == b"x"
    copy = tmp_path / "copy"
    atomic_copy(target, copy)
    assert copy.read_bytes() == b"x"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "copy", "data.json"]


def test_a_written_file_keeps_the_existing_mode_and_a_new_one_honours_the_umask(
    tmp_path: Path,
) -> None:
    import os

    from artifactctl.fs.atomic import process_umask

    umask = os.umask(0o022)
    os.umask(umask)
    assert process_umask() == umask
    new = tmp_path / "new.json"
    atomic_write_json(new, {})
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask
    for mode in (0o640, 0o444, 0o664):  # read-only too: the mode is set after the writes
        existing = tmp_path / f"existing-{mode:o}"
        existing.write_bytes(b"old")
        existing.chmod(mode)
        atomic_write_bytes(existing, b"new")
        assert (existing.read_bytes(), existing.stat().st_mode & 0o777) == (b"new", mode)
    copy = tmp_path / "copy"
    atomic_copy(tmp_path / "existing-444", copy)  # a copy is a new file: not the source's mode
    assert copy.stat().st_mode & 0o777 == 0o666 & ~umask
