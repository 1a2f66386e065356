"""The JSON documents of the API, built from the library on every request.

Each has a ``schema`` key. Where the CLI has a ``--json`` document for the same
thing, the API's is that document: ``status --json`` as is, and ``list``,
``show``, ``history`` and ``show-run`` with a ``schema`` key added (plus download
links). Nothing here imports FastAPI, so ``artifactctl report`` can use it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from artifactctl import layout
from artifactctl.errors import IntegrityError
from artifactctl.project import Project
from artifactctl.serve import registries
from artifactctl.serve.errors import NotFound
from artifactctl.serve.files import Candidate, Expected, open_inside
from artifactctl.serve.names import plain_name

API = "/api"


def health(project: Project) -> dict[str, Any]:
    from artifactctl import __version__

    return {"schema": "artifactctl.health/1", "ok": True, "version": __version__}


def status(project: Project) -> dict[str, Any]:
    from artifactctl.status import collect_status

    return collect_status(project).to_dict()


def registry_list(project: Project, default: str | None) -> dict[str, Any]:
    """Every registry (model family) of the repository, with its champion and links."""
    from artifactctl.registry.ledger import state_of

    entries = []
    for name in registries.names(project):
        chosen = registries.select(project, name)
        champ = state_of(chosen).current
        entries.append(
            {
                "name": name,
                "champion": champ.id if champ else None,
                "url": f"{API}/champion{registries.query(chosen)}",
                "dashboard": f"/{registries.query(chosen)}",
            }
        )
    return {"schema": "artifactctl.registries/1", "default": default, "registries": entries}


def champion(project: Project, which: str) -> dict[str, Any]:
    """The champion (``which`` = champion) or previous champion, from one read of the ledger."""
    from artifactctl.registry.champion import slot_dir
    from artifactctl.registry.experiments import load_experiments, read_metrics
    from artifactctl.registry.ledger import read_events, replay
    from artifactctl.serve.sources import SLOTS

    events = read_events(project)
    state = replay(events)
    champ = state.current if which == "champion" else state.previous
    if champ is None:
        label = "champion" if which == "champion" else "previous champion"
        raise NotFound(f"there is no {label}", hint="promote one with `artifactctl promote ID`")
    event = next((e for e in events if e.get("event_id") == champ.event_id), {})
    exp = load_experiments(project).get(champ.id)
    base = f"{API}/champion" + ("/previous" if which == "previous" else "")
    return {
        "schema": "artifactctl.champion/1",
        "slot": which,
        "id": champ.id,
        "phase": champ.phase,
        "model": exp.model if exp else None,
        "desc": exp.desc if exp else "",
        "metrics": read_metrics(
            exp.metrics_file(project) if exp else project.artifacts / layout.EXPERIMENTS / champ.id
        ),
        "path": project.rel(slot_dir(project, SLOTS[which])),
        "promoted": {
            k: event.get(k)
            for k in ("time", "user", "against", "replaced", "forced", "reason", "gates", "test")
        },
        "event_id": champ.event_id,
        "files": [
            {
                "name": rel,
                "md5": md5,
                "url": f"{base}/files/{quote(rel)}{registries.query(project)}",
            }
            for rel, md5 in sorted(champ.files.items())
        ],
    }


def experiments(project: Project, phase: str | None = None, sort: str | None = None) -> dict:
    """What `artifactctl list --json` says, with a schema key."""
    from artifactctl.registry.queries import list_experiments

    rows = list_experiments(project, phase, sort)
    return {
        "schema": "artifactctl.list/1",
        "experiments": [{k: v for k, v in asdict(r).items() if k != "params"} for r in rows],
    }


def experiment(project: Project, exp_id: str) -> dict[str, Any]:
    """What `artifactctl show ID --json` says, with a schema key and the download links."""
    from artifactctl.registry.archive import archived_records
    from artifactctl.registry.experiments import load_experiments
    from artifactctl.registry.queries import show_experiment
    from artifactctl.serve.sources import experiment_files

    plain_name(exp_id, "experiment")
    known = set(load_experiments(project)) | {r.get("id") for r in archived_records(project)}
    if exp_id not in known:
        raise NotFound(f"unknown experiment {exp_id!r}")
    doc = {"schema": "artifactctl.show/1", **show_experiment(project, exp_id).to_dict()}
    shortest: dict[str, tuple[str, Candidate]] = {}
    for name, c in experiment_files(project, exp_id).items():
        if c.label not in shortest or len(name) < len(shortest[c.label][0]):
            shortest[c.label] = (name, c)
    doc["downloads"] = [
        {
            "name": name,
            "path": c.label,
            "md5": c.expected.md5,
            "url": f"{API}/experiments/{exp_id}/files/{quote(name)}{registries.query(project)}",
        }
        for name, c in sorted(shortest.values(), key=lambda item: item[1].label)
    ]
    return doc


def history(project: Project) -> dict[str, Any]:
    """What `artifactctl history --json` says, with a schema key."""
    from artifactctl.registry.queries import history as ledger_events

    return {"schema": "artifactctl.history/1", "events": ledger_events(project)}


def promotion_test(project: Project, candidate: str, baseline: str) -> dict[str, Any]:
    plain_name(candidate, "candidate")
    plain_name(baseline, "baseline")
    folder = project.promotion_tests_dir
    found = _read_test(project, folder, f"{candidate}_vs_{baseline}.json")
    if found is None:
        raise NotFound(f"no promotion test of {candidate} against {baseline}")
    return found[0]


def promotion_tests(project: Project) -> list[dict[str, Any]]:
    """Every readable promotion test, oldest first: by timestamp (whole seconds), then by
    when the file was written."""
    folder = project.promotion_tests_dir
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for name in names:
        try:
            read = _read_test(project, folder, name)
        except (NotFound, IntegrityError):
            continue
        if read is not None:
            found.append((str(read[0].get("timestamp") or ""), read[1], name, read[0]))
    return [doc for *_, doc in sorted(found, key=lambda item: item[:3])]


def _read_test(project: Project, folder: Any, name: str) -> tuple[dict[str, Any], int] | None:
    """The test's document and the file's mtime (ns); None if there is no such file."""
    candidate = Candidate(
        label=f"{project.rel(folder)}/{name}",
        path=folder / name,
        folder=folder,
        root=project.root,
        expected=Expected(),
    )
    try:
        fd = open_inside(candidate)
    except NotFound:
        return None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read()
        mtime = os.fstat(fh.fileno()).st_mtime_ns
    try:
        doc = json.loads(data)
    except ValueError:
        raise IntegrityError(f"{candidate.label} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise IntegrityError(f"{candidate.label} is not a promotion test")
    return doc, mtime


def runs(project: Project) -> dict[str, Any]:
    """Every saved run and test run: paths, files with checksum state, metrics."""
    from artifactctl.serve.runs import run_folders

    found = []
    for run_id, folders in sorted(run_folders(project).items()):
        for folder in folders:
            found.append(_run_info(project, run_id, folder, unique=len(folders) == 1))
    return {"schema": "artifactctl.runs/1", "runs": found}


def run(project: Project, run_id: str) -> dict[str, Any]:
    """What `artifactctl show-run ID --json` says, with a schema key and download links."""
    from artifactctl.serve.runs import find_run

    folder = find_run(project, run_id)
    return {"schema": "artifactctl.run_info/1", **_run_info(project, run_id, folder, True)}


def _run_info(project: Project, run_id: str, folder: Any, unique: bool) -> dict[str, Any]:
    from artifactctl.runs.saved import inspect_run

    info = inspect_run(project, folder).to_dict()
    for entry in info["files"]:
        if unique and entry["state"] != "extra":
            entry["url"] = f"{API}/runs/{quote(run_id)}/files/{quote(entry['name'])}"
    return info
