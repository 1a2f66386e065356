"""``init``: settings, .gitignore rules and (in a new repository) the managed tree, idempotently.

In a repository that already has DVC outputs, ``init`` detects its layout
(``artifactctl.detect``), writes only the settings that are missing (an existing value is
never changed) and scaffolds the reference tree only when asked (``scaffold=True``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    detected_outputs: int = 0  # DVC outputs the repository already has
    settings_added: list[str] = field(default_factory=list)  # "registry.experiments", ...
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.gitignore_updated or self.settings_written)


def gitignore_block(project: Project) -> str:
    tests = [f"/{project.rel(t)}/" for t in project.every_tests_dir()]
    lines = [
        BEGIN,
        "# test-mode runs: disposable, cleaned by `artifactctl clean`",
        *tests,
        "# local copies kept by `artifactctl pull --force/--prefer-remote` (older: beside them)",
        "/.artifactctl/",
        BACKUP_GLOB,
        END,
    ]
    return "\n".join(lines) + "\n"


def init(project: Project, scaffold: bool = False) -> InitReport:
    """Settings and .gitignore rules; the reference tree when ``scaffold`` or when the
    repository has no DVC output yet."""
    from artifactctl.detect import detect

    found = detect(project)
    report = InitReport(detected_outputs=len(found.outputs), notes=found.notes)
    if found.outputs:
        report.settings_added = add_missing_settings(
            project.root / "pyproject.toml", found.settings
        )
        report.settings_written = bool(report.settings_added)
    else:
        report.settings_written = _ensure_settings(project.root / "pyproject.toml")
    if report.settings_written:
        from artifactctl.config import load_settings

        project = Project(project.root, load_settings(project.root))
    if scaffold or not found.outputs:
        for rel in TREE:
            path = project.artifacts / rel
            if not path.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                report.created.append(project.rel(path))
    report.gitignore_updated = _update_gitignore(
        project.root / ".gitignore", gitignore_block(project)
    )
    report.gitkeep = _keep_in_git(project, report.created)  # after the ignore rules
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


def add_missing_settings(path: Path, wanted: dict[str, dict[str, Any]]) -> list[str]:
    """Write the keys of ``wanted`` that ``[tool.artifactctl]`` lacks; never change one.

    A table is extended under its header line, or appended; a table written some other way
    (inline, dotted keys) is left alone. The result must still load as settings, or the file
    is put back as it was.
    """
    from artifactctl.config import load_settings, read_table

    text = path.read_text(encoding="utf-8") if path.exists() else ""
    have = read_table(path)
    added: list[str] = []
    for table, values in wanted.items():
        existing: Any = have
        for part in [p for p in table.split(".") if p]:
            existing = existing.get(part, {}) if isinstance(existing, dict) else {}
        missing = {k: v for k, v in values.items() if k not in existing}
        if not missing:
            continue
        header = "[tool.artifactctl" + (f".{table}" if table else "") + "]"
        lines = [f"{k} = {_toml(v)}" for k, v in missing.items()]
        rows = text.split("\n")
        at = next((i for i, row in enumerate(rows) if row.strip() == header), None)
        if at is not None:
            rows[at + 1 : at + 1] = lines
            text = "\n".join(rows)
        elif any(not isinstance(v, dict) for v in existing.values()):
            continue  # written inline or with dotted keys: not ours to rewrite
        else:
            sep = "" if not text or text.endswith("\n") else "\n"
            text += sep + ("\n" if text else "") + "\n".join([header, *lines]) + "\n"
        added += [f"{table}.{k}" if table else k for k in missing]
    if added:
        before = path.read_text(encoding="utf-8") if path.exists() else None
        atomic_write_text(path, text)
        try:
            load_settings(path.parent, environ={})
        except Exception:
            if before is None:
                path.unlink()
            else:
                atomic_write_text(path, before)
            raise
    return added


def _toml(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False)


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
