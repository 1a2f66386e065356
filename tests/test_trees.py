"""trees: measuring and deleting folder trees by descriptor (in threads), links never followed."""

from __future__ import annotations

import os
from pathlib import Path

from support import snapshot

from artifactctl.fs.trees import measure, open_dir, remove, remove_all


def lstat_figures(top: Path) -> tuple[int, int]:
    """(bytes, entries) by lstat, written independently of trees: links count as links."""
    size = count = 0
    for here, dirs, files in os.walk(top):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(here, d))]:
            size += os.lstat(os.path.join(here, name)).st_size
            count += 1
    return size, count


def make_tree(top: Path, i: int, outside: Path) -> None:
    deep = top / "models" / "candidates" / "v2-001"
    deep.mkdir(parents=True)
    for j in range(i % 4 + 1):
        (deep / f"f{j}.bin").write_bytes(b"x" * (100 * i + j))
    (top / "experiments").mkdir()
    (top / "run.json").write_text("{}")
    (top / "link-to-dir").symlink_to(outside, target_is_directory=True)
    (top / "experiments" / "link-to-file").symlink_to(outside / "keep.bin")


def test_remove_all_deletes_each_tree_and_reports_the_lstat_figures_measure_gives_in_order(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.bin").write_bytes(b"precious" * 100)
    before = snapshot(outside)
    parent = tmp_path / "trash"
    names = [f"t{i:03d}" for i in range(60)]  # more trees than threads
    for i, name in enumerate(names):
        make_tree(parent / name, i, outside)
    # a link or a file named as a tree is unlinked as itself
    (parent / "loose-link").symlink_to(outside, target_is_directory=True)
    (parent / "loose-file").write_bytes(b"loose")
    expected = [lstat_figures(parent / n) for n in names]
    expected += [(os.lstat(parent / "loose-link").st_size, 1), (5, 1)]
    fd = open_dir(parent)
    try:
        assert [measure(fd, n) for n in names] == expected[:-2]
        assert list(remove_all(fd, [*names, "loose-link", "loose-file"])) == expected
    finally:
        os.close(fd)
    assert os.listdir(parent) == []
    assert snapshot(outside) == before  # links were unlinked, never followed


def test_remove_of_a_missing_or_unopenable_name_changes_nothing(tmp_path: Path) -> None:
    fd = open_dir(tmp_path)
    try:
        assert remove(fd, "absent") == (0, 0)
        assert measure(fd, "absent") == (0, 0)
    finally:
        os.close(fd)


def test_open_dir_refuses_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    try:
        fd = open_dir(tmp_path / "link")
    except OSError:
        return
    os.close(fd)
    raise AssertionError("open_dir followed a symlink")
