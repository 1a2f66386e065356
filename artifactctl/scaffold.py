"""``init``: scaffold the managed tree, .gitignore rules and settings, idempotently."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from artifactctl import layout
from artifactctl.fs.atomic import atomic_write_text
from artifactctl.project import Project

BEGIN = "# >>> artifactctl (managed by `artifactctl init`; edits inside are replaced)"
END = "# <<< artifactctl"
# Backups made by `pull --prefer-remote`: PATH.local-YYYYmmddTHHMMSSZ
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


@dataclass
class InitReport:
    created: list[str] = field(default_factory=list)
    gitignore_updated: bool = False
    settings_written: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.created or self.gitignore_updated or self.settings_written)


def gitignore_block(project: Project) -> str:
    tests = project.rel(project.tests_dir)
    lines = [
        BEGIN,
        "# test-mode runs: disposable, cleaned by `artifactctl clean`",
        f"/{tests}/",
        "# local copies kept by `artifactctl pull --prefer-remote`",
        BACKUP_GLOB,
        END,
    ]
    return "\n".join(lines) + "\n"


def init(project: Project) -> InitReport:
    report = InitReport()
    for rel in TREE:
        path = project.artifacts / rel
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            report.created.append(project.rel(path))
    report.gitignore_updated = _update_gitignore(
        project.root / ".gitignore", gitignore_block(project)
    )
    report.settings_written = _ensure_settings(project.root / "pyproject.toml")
    return report


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
