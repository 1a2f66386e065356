"""``init``: scaffold the managed tree, .gitignore rules and settings, idempotently."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from artifactctl import layout
from artifactctl.fs.atomic import atomic_write_text
from artifactctl.project import Project

BEGIN = "# >>> artifactctl (managed by `artifactctl init`; edits inside are replaced)"
END = "# <<< artifactctl"
# Older backups of `pull --prefer-remote` went beside the file: PATH.local-<stamp>
BACKUP_GLOB = "*.local-20[0-9][0-9][01][0-9][0-3][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z"

TREE = (
    layout.DATA,
    layout.REFERENCE,
    f"{layout.MODELS}/baseline",
    f"{layout.MODELS}/candidates",
    layout.PRODUCTION,
    layout.EXPERIMENTS,
    layout.PROMOTION_TESTS,
    layout.TESTS,
    layout.ARCHIVE,
)

DEFAULT_SETTINGS = """
[tool.artifactctl]
artifacts_root = "artifacts"
default_mode = "test"
preserve = []

[tool.artifactctl.retention]
keep_recent = 5
max_age_days = 30

[tool.artifactctl.promotion]
metric = "rmse"
direction = "lower"
max_p_value = 0.05
"""


# An empty folder is invisible to git: a new clone would not have it. Each folder init
# creates and leaves empty gets this file, unless git ignores the folder (test runs).
GITKEEP = ".gitkeep"


@dataclass
class InitReport:
    created: list[str] = field(default_factory=list)
    gitignore_updated: bool = False
    settings_written: bool = False
    gitkeep: list[str] = field(default_factory=list)  # the .gitkeep files written

    @property
    def changed(self) -> bool:
        return bool(self.created or self.gitignore_updated or self.settings_written)


def gitignore_block(project: Project) -> str:
    root = project.settings.artifacts_root.strip("/")
    lines = [
        BEGIN,
        "# test-mode runs: disposable, cleaned by `artifactctl clean`",
        f"/{root}/{layout.TESTS}/",
        "# local copies kept by `artifactctl pull --force/--prefer-remote` (older: beside them)",
        "/.artifactctl/",
        BACKUP_GLOB,
        END,
    ]
    return "\n".join(lines) + "\n"


def init(project: Project) -> InitReport:
    report = InitReport()
    report.gitignore_updated = _update_gitignore(
        project.root / ".gitignore", gitignore_block(project)
    )
    for rel in TREE:
        path = project.artifacts / rel
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            report.created.append(project.rel(path))
    report.gitkeep = _keep_in_git(project, report.created)
    report.settings_written = _ensure_settings(project.root / "pyproject.toml")
    return report


def _keep_in_git(project: Project, created: list[str]) -> list[str]:
    """Write a .gitkeep into each new folder that is still empty and that git does not ignore."""
    import subprocess

    empty = [rel for rel in created if not any((project.root / rel).iterdir())]
    keeps = [f"{rel}/{GITKEEP}" for rel in empty]
    if not keeps:
        return []
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", "--", *keeps],
        cwd=project.root,
        capture_output=True,
        text=True,
    )
    ignored = set(proc.stdout.splitlines()) if proc.returncode in (0, 1) else set(keeps)
    written = [rel for rel in keeps if rel not in ignored]
    for rel in written:
        atomic_write_text(project.root / rel, "")
    return written


def _update_gitignore(path: Path, block: str) -> bool:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        new = head + block.rstrip("\n") + tail
    else:
        sep = "" if not text or text.endswith("\n") else "\n"
        new = text + sep + ("\n" if text else "") + block
    if new == text:
        return False
    atomic_write_text(path, new)
    return True


def _ensure_settings(path: Path) -> bool:
    from artifactctl.config import read_table

    if path.exists():
        text = path.read_text(encoding="utf-8")
        if read_table(path) or "[tool.artifactctl" in text:
            return False
        sep = "" if text.endswith("\n") else "\n"
        atomic_write_text(path, text + sep + DEFAULT_SETTINGS)
    else:
        atomic_write_text(path, DEFAULT_SETTINGS.lstrip("\n"))
    return True
