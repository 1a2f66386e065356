"""Where a saved run stays accounted for: test runs under retention, production ignored by git.

A test-mode ``save_run`` outside ``artifactctl run`` writes ``<tests_dir>/<name>/runs/<id>/``
(``name`` is ``default`` unless given). That folder gets the run.json of a test run
(``command`` "save_run", no files of its own: verify checks the saved runs inside by their
manifest.json), so ``clean`` applies the retention rules to it like any test run; each save
moves its ``created`` forward, so a folder still being saved into is the newest, not the
oldest. A run.json written by ``artifactctl run`` is that run's own and is left alone.

A production saved run is not a DVC output unless the user tracks the runs folder; until
then a ``.gitignore`` in it keeps ``git add -A`` from staging pickles.
"""

from __future__ import annotations

from pathlib import Path

from artifactctl import layout
from artifactctl.config import Mode
from artifactctl.fs.atomic import atomic_write_json, atomic_write_text, read_json
from artifactctl.project import git_commit
from artifactctl.runs import policy
from artifactctl.runs.context import Context

COMMAND = "save_run"
IGNORE_RUNS = "/*/\n"


def account_for(ctx: Context, final: Path) -> None:
    """After a run was saved at ``final``: retention for test mode, git-ignore for production."""
    if ctx.mode == Mode.TEST:
        _test_manifest(ctx)
    else:
        _ignore_unless_tracked(ctx, final.parent)


def _test_manifest(ctx: Context) -> None:
    path = ctx.base / layout.RUN_MANIFEST
    try:
        manifest = read_json(path) if path.exists() else None
    except (OSError, ValueError):
        return  # not ours to repair: verify names a broken run.json
    ours = isinstance(manifest, dict) and manifest.get("command") == COMMAND
    if manifest is not None and not ours:
        return
    atomic_write_json(
        path,
        {
            "schema": layout.RUN_SCHEMA,
            "name": ctx.test_name,
            "mode": Mode.TEST.value,
            "created": policy.now_iso(),
            "git_commit": git_commit(ctx.project.root),
            "command": COMMAND,
            "params": {},
            "overrides": {},
            "experiments": [],
            "stages": [],
            "status": "ok",
            "files": {},
        },
    )


def _ignore_unless_tracked(ctx: Context, runs: Path) -> None:
    from artifactctl.dvc.tracked import tracked_outs
    from artifactctl.scope import overlaps

    project = ctx.project
    rel = project.rel(runs)
    if any(overlaps(o.path, rel) for o in tracked_outs(project.root)):
        return  # DVC tracks it (and ignores it in git itself)
    ignore = runs / ".gitignore"
    text = ignore.read_text(encoding="utf-8") if ignore.is_file() else ""
    if IGNORE_RUNS.strip() not in text.splitlines():
        sep = "" if not text or text.endswith("\n") else "\n"
        atomic_write_text(ignore, text + sep + IGNORE_RUNS)
