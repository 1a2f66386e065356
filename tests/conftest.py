"""Fixtures: real git + DVC repositories in tmp_path, isolated from the user's config."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from support import BIN, copy_pipeline, dvc, point_remote
from tiny import tiny, tiny_template  # noqa: F401  (fixtures: the tiny pipeline)

pytest_plugins = ["s3server"]  # the real S3 server fixtures (SeaweedFS)


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("env")
    env = {
        "DVC_NO_ANALYTICS": "1",
        "DVC_STUDIO_OFFLINE": "1",
        "DVC_SITE_CACHE_DIR": str(base / "dvc-site-cache"),
        "DVC_GLOBAL_CONFIG_DIR": str(base / "dvc-global"),
        "DVC_SYSTEM_CONFIG_DIR": str(base / "dvc-system"),
        "GIT_AUTHOR_NAME": "artifactctl tests",
        "GIT_AUTHOR_EMAIL": "tests@example.invalid",
        "GIT_COMMITTER_NAME": "artifactctl tests",
        "GIT_COMMITTER_EMAIL": "tests@example.invalid",
        "GIT_CONFIG_GLOBAL": str(base / "gitconfig"),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for var in [v for v in os.environ if v.startswith("ARTIFACTCTL_")]:
        del os.environ[var]
    os.environ.update(env)


@pytest.fixture(scope="session")
def built_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference pipeline, copied into a new repo and reproduced once per session."""
    base = tmp_path_factory.mktemp("template")
    repo = copy_pipeline(base / "repo", base / "remote")
    dvc(repo, "repro", "-q")
    return repo


@pytest.fixture
def pipeline_repo(built_pipeline: Path, tmp_path: Path) -> Path:
    """A private copy of the reproduced pipeline repo (own git, cache, remote)."""
    repo = tmp_path / "repo"
    shutil.copytree(built_pipeline, repo, symlinks=True)
    point_remote(repo, tmp_path / "remote")
    return repo


@pytest.fixture
def fresh_pipeline(tmp_path: Path) -> Path:
    """The reference pipeline in a new repo that has never been reproduced."""
    return copy_pipeline(tmp_path / "repo", tmp_path / "remote")
