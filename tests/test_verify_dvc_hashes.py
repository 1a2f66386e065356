"""Our hashes equal the ones DVC itself records with `dvc add`, and verify agrees."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support import dvc, git, init_repo, invoke

from artifactctl.dvc.tracked import cache_object, tracked_outs
from artifactctl.hashing import dir_md5, manifest_bytes, md5_file, walk_files

FILES = {
    "empty.txt": b"",
    "with space ü.csv": b"a,b\n1,2\n",
    "日本語.bin": bytes(range(256)) * 300,
}
TREE = {
    "top.txt": b"top\n",
    "empty": b"",
    "a b/x.txt": b"x" * 70000,
    "a/x.txt": b"x\r\nwindows line ends stay as they are\r\n",
    "ünï cødé/ leading space.json": b'{"k": 1}',
    "deep/er/and/deeper/file.bin": os.urandom(3 << 20),
    "deep/er/Ω.txt": b"omega",
}


def write_tree(top: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_bytes(data)


def our_dir_hash(top: Path) -> tuple[str, bytes]:
    entries = [(p.relative_to(top).as_posix(), md5_file(p)) for p in walk_files(top)]
    return dir_md5(entries), manifest_bytes(entries)


@pytest.fixture(scope="module")
def added_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = init_repo(tmp_path_factory.mktemp("dvcadd") / "repo")
    data = repo / "artifacts" / "data"
    data.mkdir(parents=True)
    write_tree(data, FILES)
    write_tree(data / "tree dir", TREE)
    dvc(repo, "add", "-q", *[f"artifacts/data/{n}" for n in FILES], "artifacts/data/tree dir")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    return repo


def test_file_hashes_equal_what_dvc_add_recorded(added_repo: Path) -> None:
    outs = {o.path: o for o in tracked_outs(added_repo)}
    for name, data in FILES.items():
        out = outs[f"artifacts/data/{name}"]
        assert md5_file(added_repo / out.path) == out.md5
        assert md5_file(added_repo / out.path, size=len(data)) == out.md5
        assert out.size == len(data)


def test_directory_hash_and_manifest_equal_dvcs(added_repo: Path) -> None:
    out = {o.path: o for o in tracked_outs(added_repo)}["artifacts/data/tree dir"]
    ours, listing = our_dir_hash(added_repo / out.path)
    assert ours == out.md5
    cache = added_repo / ".dvc" / "cache"
    assert cache_object(cache, out.md5).read_bytes() == listing  # byte for byte
    assert out.nfiles == len(TREE)


def test_verify_deep_with_cache_is_all_ok_on_dvc_added_data(added_repo: Path) -> None:
    result = invoke(added_repo, "verify", "--deep", "--cache", "--json")
    assert result.exit_code == 0, result.stdout
    doc = json.loads(result.stdout)
    paths = {f["path"] for f in doc["files"] if f["kind"] == "workspace"}
    assert paths == {f"artifacts/data/{n}" for n in FILES} | {
        f"artifacts/data/tree dir/{r}" for r in TREE
    }
    assert doc["summary"]["ok"] == len(doc["files"])
    # one object per distinct content (the empty files share one), plus the .dir object
    objects = [f for f in doc["files"] if f["kind"] == "cache"]
    assert len(objects) == 1 + len({*TREE.values(), *FILES.values()})


def test_verify_flags_a_changed_unicode_file_in_a_dvc_added_directory(added_repo: Path) -> None:
    target = added_repo / "artifacts/data/tree dir/ünï cødé/ leading space.json"
    original = target.read_bytes()
    try:
        target.write_bytes(b'{"k": 2}')
        result = invoke(added_repo, "verify", "--json")
        assert result.exit_code == 1
        bad = [f for f in json.loads(result.stdout)["files"] if f["problem"]]
        assert [(f["path"], f["state"]) for f in bad] == [
            ("artifacts/data/tree dir/ünï cødé/ leading space.json", "corrupted")
        ]
    finally:
        target.write_bytes(original)


# Names as DVC meets them: unicode, spaces, dots, glob characters; not '/', NUL, '.' or '..'.
NAME = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", "..") and s.strip() == s and len(s.encode()) < 60)


@st.composite
def trees(draw: st.DrawFn) -> dict[str, bytes]:
    paths = draw(st.lists(st.lists(NAME, min_size=1, max_size=3), min_size=1, max_size=8))
    files: dict[str, bytes] = {}
    for parts in paths:
        rel = "/".join(parts)
        # a path cannot be both a file and a folder
        if any(rel.startswith(f + "/") or f.startswith(rel + "/") for f in files):
            continue
        files[rel] = draw(st.binary(max_size=3000))
    return files


@pytest.mark.slow
@settings(max_examples=5, deadline=None)
@given(files=trees())
@example(files={"\xad": b"", "a\u202eb/c\u200b": b"x"})  # format characters: DVC tracks them
def test_dir_hash_matches_dvc_for_generated_names(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes]
) -> None:
    repo = tmp_path_factory.mktemp("gen")
    git(repo, "init", "-q")
    dvc(repo, "init", "-q")
    write_tree(repo / "artifacts" / "gen", files)
    dvc(repo, "add", "-q", "artifacts/gen")
    out = {o.path: o for o in tracked_outs(repo)}["artifacts/gen"]
    assert our_dir_hash(repo / "artifacts" / "gen")[0] == out.md5
    result = invoke(repo, "verify", "--deep", "--cache", "--json")
    assert result.exit_code == 0, result.stdout
    doc = json.loads(result.stdout)
    assert {f["path"] for f in doc["files"] if f["kind"] == "workspace"} == {
        f"artifacts/gen/{rel}" for rel in files
    }
