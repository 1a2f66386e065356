"""Preserve rules: paths and globs whose local copy no artifactctl command replaces.

A rule is a repository-relative POSIX path or an fnmatch-style glob (``*``
matches across folders). A rule naming a folder covers everything below it.
``add_rule``/``remove_rule`` edit ``[tool.artifactctl] preserve`` in
pyproject.toml through tomlkit, so comments and formatting are kept.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from artifactctl.errors import SettingsError, UsageError
from artifactctl.project import Project

SCHEMA = "artifactctl.preserve/1"


def matches(rel: str, rule: str) -> bool:
    rule = rule.strip().rstrip("/")
    if not rule:
        return False
    return rel == rule or rel.startswith(rule + "/") or fnmatch.fnmatchcase(rel, rule)


def is_preserved(rel: str, rules: list[str]) -> bool:
    return any(matches(rel, r) for r in rules)


def normalise(project: Project, given: str) -> str:
    """A rule as written by the user (relative to the cwd or the root) -> repo-relative POSIX."""
    text = given.strip()
    if not text:
        raise UsageError("an empty path cannot be a preserve rule")
    full = Path(os.path.normpath(Path.cwd() / text))  # an absolute `text` stays as given
    try:
        rel = full.relative_to(project.root).as_posix()
    except ValueError:
        raise UsageError(f"{given}: outside the repository {project.root}") from None
    parts = PurePosixPath(rel).parts
    if rel in (".", "") or ".." in parts or PurePosixPath(rel).is_absolute():
        raise UsageError(f"{given}: a preserve rule must name something inside the repository")
    return rel.rstrip("/")


def _load_doc(project: Project):  # type: ignore[no-untyped-def]
    import tomlkit

    path = project.root / "pyproject.toml"
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        return path, tomlkit.parse(text)
    except Exception as exc:  # tomlkit's parse errors have no common public base
        raise SettingsError(f"pyproject.toml is not valid TOML: {exc}") from None


def _rules_array(doc):  # type: ignore[no-untyped-def]
    import tomlkit

    tool = doc.get("tool")
    if tool is None:
        tool = tomlkit.table(is_super_table=True)
        doc["tool"] = tool
    table = tool.get("artifactctl")
    if table is None:
        table = tomlkit.table()
        tool["artifactctl"] = table
    rules = table.get("preserve")
    if rules is None:
        rules = tomlkit.array()
        table["preserve"] = rules
    return rules


@dataclass
class RuleChange:
    rule: str
    changed: bool
    rules: list[str]


def add_rule(project: Project, given: str) -> RuleChange:
    rule = normalise(project, given)
    path, doc = _load_doc(project)
    rules = _rules_array(doc)
    current = [str(r) for r in rules]
    if rule in current:
        return RuleChange(rule, False, current)
    rules.append(rule)
    _write(path, doc.as_string())
    return RuleChange(rule, True, [*current, rule])


def remove_rule(project: Project, given: str) -> RuleChange:
    rule = normalise(project, given)
    path, doc = _load_doc(project)
    rules = _rules_array(doc)
    current = [str(r) for r in rules]
    if rule not in current:
        known = ", ".join(current) or "none"
        raise UsageError(
            f"{rule} is not a preserve rule (rules: {known})",
            hint="give the rule exactly as `artifactctl preserve list` shows it",
        )
    del rules[current.index(rule)]
    _write(path, doc.as_string())
    return RuleChange(rule, True, [r for r in current if r != rule])


@dataclass
class PreservedFile:
    path: str
    state: str  # ok (matches DVC's record) | modified | missing | untracked (not DVC-tracked)
    tracked_by: str  # dvc | git/other


@dataclass
class RuleReport:
    rule: str
    files: list[PreservedFile] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return any(f.state == "modified" for f in self.files)


@dataclass
class PreserveListing:
    rules: list[RuleReport]

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "rules": [
                {"rule": r.rule, "differs": r.differs, "files": [asdict(f) for f in r.files]}
                for r in self.rules
            ],
        }


def list_rules(project: Project) -> PreserveListing:
    """Each rule, the files it covers, and whether each differs from what DVC recorded."""
    from artifactctl.scope import expected_files
    from artifactctl.sync.outputs import cached_outs, local_md5s

    rules = project.settings.preserve
    expected = expected_files(project, cached_outs(project, None))
    covered = {rel: md5 for rel, md5 in expected.items() if is_preserved(rel, rules)}
    local = local_md5s(project, covered)
    reports = []
    for rule in rules:
        seen: dict[str, PreservedFile] = {}
        for rel, md5 in covered.items():
            if matches(rel, rule):
                state = "missing" if rel not in local else "ok" if local[rel] == md5 else "modified"
                seen[rel] = PreservedFile(rel, state, "dvc")
        for rel in _local_matches(project, rule):
            if rel not in seen:
                seen[rel] = PreservedFile(rel, "untracked", "git/other")
        reports.append(RuleReport(rule, sorted(seen.values(), key=lambda f: f.path)))
    return PreserveListing(reports)


def _local_matches(project: Project, rule: str) -> list[str]:
    """Workspace files a rule names (globbed from the root; skips .git and .dvc)."""
    from artifactctl.hashing import walk_files

    target = project.root / rule
    if target.is_file():
        return [rule]
    if target.is_dir():
        return [project.rel(p) for p in walk_files(target)]
    if not any(ch in rule for ch in "*?["):
        return []
    found = []
    for p in project.root.glob(rule):
        rel = project.rel(p)
        if p.is_file() and not rel.startswith((".git/", ".dvc/")):
            found.append(rel)
    return found


def _write(path: Path, text: str) -> None:
    from artifactctl.fs.atomic import atomic_write_text

    atomic_write_text(path, text)
