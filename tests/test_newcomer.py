"""A newcomer's first minutes: the README's quick start, run literally on a fresh clone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from support import BIN, PROJECT, git


def quick_start_blocks(readme: str) -> list[str]:
    """The fenced shell blocks under `## Quick start`, up to the next heading of any level."""
    section = readme.split("\n## Quick start\n", 1)[1]
    section = re.split(r"\n#{2,} ", section, maxsplit=1)[0]
    return re.findall(r"```(?:bash|sh|console)?\n(.*?)```", section, re.S)


def reuse_built_venv(clone: Path) -> None:
    """Give the clone a .venv whose packages are this test run's, instead of installing.

    The clone's ``.venv`` is a real venv (its own ``bin/python``); a ``.pth`` file puts the
    clone's own source first on ``sys.path``, then the packages already installed for the
    tests; its ``artifactctl`` and ``dvc`` scripts are the installed ones with the clone's
    interpreter. ``scripts/venv.sh`` then finds the venv and its install stamp and installs
    nothing, and every command of the quick start runs as written, on the clone's code.
    """
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    ours = sysconfig.get_paths()["purelib"]
    (site / "_reuse_test_venv.pth").write_text(f"{clone}\nimport site; site.addsitedir({ours!r})\n")
    for name in ("artifactctl", "dvc"):
        body = (BIN / name).read_text().split("\n", 1)[1]
        script = venv / "bin" / name
        script.write_text(f"#!{venv}/bin/python\n{body}")
        script.chmod(0o755)
    (venv / ".installed-pipeline").touch()  # newer than pyproject.toml: venv.sh skips pip


@pytest.mark.slow
def test_the_readme_quick_start_works_on_a_fresh_clone(tmp_path: Path) -> None:
    """Clone the repository, run each line of the quick start's shell block(s) as written.

    To spare a network install, the clone's .venv reuses the packages already installed for
    this test run (see ``reuse_built_venv``); the commands themselves are the README's.
    """
    readme = (PROJECT / "README.md").read_text()
    blocks = quick_start_blocks(readme)
    assert blocks, "the README has no quick start block"
    clone = tmp_path / "artifactctl"
    git(tmp_path, "clone", "-q", str(PROJECT), str(clone))
    reuse_built_venv(clone)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    for block in blocks:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=clone,
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        assert proc.returncode == 0, (block, proc.stdout[-3000:], proc.stderr[-3000:])
    out = proc.stdout
    assert "all ok" in out and "checked against remote 'local'" in " ".join(out.split())
    assert (tmp_path / "artifactctl-remote").is_dir()  # the default remote, next to the clone
    assert (clone / "artifacts/models/candidates/v2-006/model.joblib").is_file()


def test_the_quick_start_blocks_are_found() -> None:
    blocks = quick_start_blocks((PROJECT / "README.md").read_text())
    assert blocks and all(block.strip() for block in blocks)
    assert not any("scripts/test.sh" in block for block in blocks)  # not the whole suite
