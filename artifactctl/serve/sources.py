"""Which file a download URL means, what it was recorded with, and opening it verified.

- a champion's file: the ledger's md5 for it, served from ``champion_current/`` (or
  ``champion_previous/``); a copy that is missing or fails the check is rebuilt from
  the ledger as ``where champion`` and ``load_champion()`` do, then checked again;
- an experiment's file: the md5 DVC recorded in dvc.lock (through the ``.dir``
  manifest of a folder output), or the one ``archived.json`` recorded once archived;
- a run's file: the sha256 and size of its manifest.

Only names on record can be asked for; the names come from the records, which
are input too, and are checked like a URL's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from artifactctl.errors import IntegrityError, UsageError
from artifactctl.project import Project
from artifactctl.serve.errors import NotFound
from artifactctl.serve.files import (
    Candidate,
    Expected,
    Mismatch,
    VerifiedFile,
    open_verified,
    refuse,
)
from artifactctl.serve.names import plain_name, relative_name

SLOTS = {"champion": "champion_current", "previous": "champion_previous"}
ATTEMPTS = 3  # a promote or rollback swapping the copies may need a second look


# ----------------------------------------------------------------------- champion


def champion_file(project: Project, which: str, name: str) -> VerifiedFile:
    """The champion's (or previous champion's) file ``name``, verified against the ledger."""
    from artifactctl.registry.queries import where

    rel = relative_name(name)
    for attempt in range(ATTEMPTS):
        candidate = _champion_candidate(project, which, rel)
        try:
            return open_verified(candidate)
        except (Mismatch, NotFound) as problem:
            if attempt == ATTEMPTS - 1:
                if isinstance(problem, Mismatch):
                    raise refuse(candidate, problem, REBUILD_HINT) from None
                raise
        try:  # rebuild the copies from the ledger (under the lock), as load_champion does
            where(project, which)
        except IntegrityError as exc:
            problem = Mismatch(f"{candidate.label} does not match the ledger's md5 and {exc}")
            raise refuse(candidate, problem, exc.hint) from None
        except UsageError as exc:  # rolled back meanwhile: there is no previous any more
            raise NotFound(str(exc)) from None
    raise AssertionError("unreachable")


REBUILD_HINT = "restore the model folder or the DVC cache (`artifactctl pull`)"


def _champion_candidate(project: Project, which: str, rel: str) -> Candidate:
    from artifactctl.registry.champion import slot_dir
    from artifactctl.registry.ledger import state_of

    state = state_of(project)
    champ = state.current if which == "champion" else state.previous
    if champ is None:
        raise NotFound(f"there is no {'champion' if which == 'champion' else 'previous champion'}")
    if rel not in champ.files:
        raise NotFound(f"champion {champ.id} has no file {rel!r}")
    folder = slot_dir(project, SLOTS[which])
    return Candidate(
        label=f"{project.rel(folder)}/{rel}",
        path=folder / rel,
        folder=folder,
        root=project.root,
        expected=Expected(md5=champ.files[rel]),
    )


# -------------------------------------------------------------------- experiments


def experiment_files(project: Project, exp_id: str) -> dict[str, Candidate]:
    """Every file of an experiment that can be downloaded, by name.

    A name is the file's path inside the model folder or the experiment folder
    (``model.joblib``, ``plots/residuals.csv``); ``model/NAME`` and
    ``experiment/NAME`` always work too, and decide when both folders hold NAME.
    """
    from artifactctl.registry.archive import archived_records
    from artifactctl.registry.experiments import load_experiments

    plain_name(exp_id, "experiment")
    experiments = load_experiments(project)
    if exp_id in experiments:
        exp = experiments[exp_id]
        folders = {"model": exp.model_dir(project), "experiment": exp.experiment_dir(project)}
        return _named(project, folders, _recorded(project, exp_id, folders))
    for record in archived_records(project):
        if record.get("id") == exp_id:
            base = project.archive_dir / exp_id
            folders = {"model": base / "model", "experiment": base / "experiment"}
            files = record.get("files") if isinstance(record.get("files"), dict) else {}
            listed = {key: _md5s(files.get(key)) for key in folders}
            return _named(project, folders, listed)
    raise NotFound(f"unknown experiment {exp_id!r}")


def _recorded(project: Project, exp_id: str, folders: dict[str, Path]) -> dict[str, dict]:
    """{folder key: {relpath: md5}} of the experiment's outputs as dvc.lock records them."""
    from artifactctl.dvc.tracked import out_files, tracked_outs
    from artifactctl.registry.outputs import stages

    names = set(stages(project, exp_id))
    prefixes = {key: project.rel(folder) + "/" for key, folder in folders.items()}
    listed: dict[str, dict[str, str]] = {key: {} for key in folders}
    for out in tracked_outs(project.root):
        if out.stage not in names:
            continue
        for path, md5 in (out_files(project.cache_dir, out) or {}).items():
            for key, prefix in prefixes.items():
                if path.startswith(prefix):
                    listed[key][path[len(prefix) :]] = md5
    return listed


def _md5s(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def _named(
    project: Project, folders: dict[str, Path], listed: dict[str, dict[str, str]]
) -> dict[str, Candidate]:
    named: dict[str, Candidate] = {}
    bare: dict[str, Candidate] = {}
    for key, folder in folders.items():
        for rel, md5 in sorted(listed.get(key, {}).items()):
            try:
                rel = relative_name(rel)
            except NotFound:
                continue  # a record naming a path outside its folder: never served
            candidate = Candidate(
                label=f"{project.rel(folder)}/{rel}",
                path=folder / rel,
                folder=folder,
                root=project.root,
                expected=Expected(md5=md5),
                also_inside=(project.cache_dir,),
            )
            named[f"{key}/{rel}"] = candidate
            bare.setdefault(rel, candidate)
    return {**bare, **named}


def experiment_file(project: Project, exp_id: str, name: str) -> VerifiedFile:
    files = experiment_files(project, exp_id)
    candidate = files.get(relative_name(name))
    if candidate is None:
        raise NotFound(f"experiment {exp_id} has no file {name!r} on record")
    return _open(candidate, f"restore it with `dvc checkout` or rebuild `evaluate@{exp_id}`")


# --------------------------------------------------------------------------- runs


def run_files(project: Project, run_id: str) -> dict[str, Candidate]:
    """Every file a run's manifest lists, by its name in the manifest."""
    from artifactctl.fs.atomic import read_json
    from artifactctl.serve.runs import find_run, manifest_name

    folder = find_run(project, run_id)
    try:
        manifest = read_json(folder / manifest_name(folder))
    except (OSError, ValueError):
        raise IntegrityError(f"{project.rel(folder)} has an unreadable manifest") from None
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    found = {}
    for rel, entry in (listed if isinstance(listed, dict) else {}).items():
        try:
            rel = relative_name(str(rel))
        except NotFound:
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            continue
        size = entry.get("size")
        found[rel] = Candidate(
            label=f"{project.rel(folder)}/{rel}",
            path=folder / rel,
            folder=folder,
            root=project.root,
            expected=Expected(sha256=entry["sha256"], size=size if isinstance(size, int) else None),
        )
    return found


def run_file(project: Project, run_id: str, name: str) -> VerifiedFile:
    candidate = run_files(project, run_id).get(relative_name(name))
    if candidate is None:
        raise NotFound(f"run {run_id} has no file {name!r} in its manifest")
    return _open(candidate, "the run was changed after it was saved; save it again")


def _open(candidate: Candidate, hint: str) -> VerifiedFile:
    try:
        return open_verified(candidate)
    except Mismatch as problem:
        raise refuse(candidate, problem, hint) from None
