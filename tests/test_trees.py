"""trees: measuring and deleting folder trees by descriptor, in forked lanes, links unfollowed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from support import snapshot

from artifactctl.fs.trees import in_lanes, measure, open_dir, remove, remove_many


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


def test_remove_many_deletes_every_tree_and_reports_its_lstat_figures_in_order(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.bin").write_bytes(b"precious" * 100)
    before = snapshot(outside)
    parent = tmp_path / "trash"
    names = [f"t{i:03d}" for i in range(150)]  # enough for several lanes on a multi-core machine
    for i, name in enumerate(names):
        make_tree(parent / name, i, outside)
    (parent / "loose-link").symlink_to(outside, target_is_directory=True)
    expected = [lstat_figures(parent / n) for n in names]
    expected.append((os.lstat(parent / "loose-link").st_size, 1))
    fd = open_dir(parent)
    try:
        assert [measure(fd, n) for n in names] == expected[:-1]
        # two lanes whatever the cores (and pytest's threads, which make lanes_for say 1)
        assert remove_many(fd, [*names, "loose-link"], lanes=2) == expected
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


def test_in_lanes_returns_results_in_item_order_and_calls_before_once() -> None:
    items = list(range(500))
    for lanes in (None, 1, 3):
        calls: list[int] = []

        def before(calls: list[int] = calls) -> None:
            calls.append(os.getpid())

        results = in_lanes(items, lambda i: (i, i * i), before=before, lanes=lanes)
        assert results == [(i, i * i) for i in items]
        assert calls == [os.getpid()]


def test_in_lanes_works_only_on_readied_items_batch_by_batch() -> None:
    items = list(range(200))
    readied = [range(0, 50), [], range(120, 200)]
    results = in_lanes(items, lambda i: -i, ready=readied, lanes=2)
    assert results == [-i if i < 50 or i >= 120 else None for i in items]


def test_in_lanes_marks_the_items_of_a_lane_that_died_as_none(tmp_path: Path) -> None:
    parent = os.getpid()
    taken = tmp_path / "a forked lane took an item"

    def work(i: int) -> int:
        if os.getpid() != parent:
            taken.touch()
            os._exit(1)  # a forked lane dies on its first item without reporting anything
        deadline = time.monotonic() + 30
        while not taken.exists() and time.monotonic() < deadline:
            time.sleep(0.001)  # let the forked lane take an item before this one drains the queue
        return i

    items = list(range(100))
    results = in_lanes(items, work, lanes=2)
    lost = [i for i, r in enumerate(results) if r is None]
    assert len(lost) == 1  # the item the dead lane took: unknown, not made up
    assert all(r == i for i, r in enumerate(results) if i not in lost)
