"""Reading the registry: list, show, history, where, and ``load_champion``.

Nothing here changes the registry, except that ``where`` and ``load_champion``
rebuild missing or stale champion copies from the ledger (a fresh clone has none).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from artifactctl import layout
from artifactctl.errors import CheckFailed, IntegrityError, UsageError
from artifactctl.fs.atomic import read_json
from artifactctl.project import Project
from artifactctl.registry.archive import archived_records
from artifactctl.registry.champion import CURRENT, PREVIOUS, reconcile, slot_dir
from artifactctl.registry.experiments import (
    get_experiment,
    load_experiments,
    read_metrics,
)
from artifactctl.registry.folders import matches
from artifactctl.registry.ledger import RegistryState, id_order, read_events, state_of
from artifactctl.registry.outputs import file_states, is_built, recorded_stages, repro_hint

# ------------------------------------------------------------------------- where


def where(project: Project, what: str) -> Path:
    """champion | previous | ID -> the one folder a script wants.

    A champion copy that is absent (a fresh clone) or does not match the ledger
    (edited by hand, a merge: ``registry/stale.py`` warns about those) is rebuilt
    from the ledger.
    """
    if what in ("champion", "previous"):
        state = state_of(project)
        champ = state.current if what == "champion" else state.previous
        if champ is None:
            raise UsageError(
                f"there is no {'champion' if what == 'champion' else 'previous champion'}",
                hint="promote one with `artifactctl promote ID`",
            )
        slot = CURRENT if what == "champion" else PREVIOUS
        path = slot_dir(project, slot)
        if not matches(path, champ.files):
            with project.lock():  # a fresh clone, or a hand edit: rebuild from the ledger
                reconcile(project, state_of(project))
        return path
    layout.validate_name(what, "experiment ID")
    archived = project.archive_dir / what / "model"
    experiments = load_experiments(project)
    if what in experiments:
        path = experiments[what].model_dir(project)
        if not path.is_dir():
            raise UsageError(
                f"experiment {what} has no model folder yet ({project.rel(path)})",
                hint=f"build it with {repro_hint(project, what)} or fetch it with `dvc pull`",
            )
        return path
    if archived.is_dir():
        return archived
    raise UsageError(
        f"unknown experiment {what!r} (declared: {', '.join(sorted(experiments)) or 'none'})",
        hint="`artifactctl where` takes champion, previous or an ID from `artifactctl list`",
    )


# ---------------------------------------------------------------- list and show


def _archived_metrics(project: Project, record: dict[str, Any]) -> dict[str, Any]:
    """What archived.json recorded; else the archived results folder's metrics.json."""
    recorded = record.get("metrics")
    if isinstance(recorded, dict) and recorded:
        return recorded
    return read_metrics(project.archive_dir / record["id"] / "experiment")


@dataclass
class ExperimentInfo:
    id: str
    phase: str
    model: str
    state: str  # built | not built | archived
    role: str  # champion | previous | ""
    metrics: dict[str, Any]
    desc: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def _role(state: RegistryState, exp_id: str) -> str:
    if state.current and state.current.id == exp_id:
        return "champion"
    if state.previous and state.previous.id == exp_id:
        return "previous"
    return ""


def list_experiments(
    project: Project, phase: str | None = None, sort: str | None = None
) -> list[ExperimentInfo]:
    state = state_of(project)
    recorded = recorded_stages(project)
    rows = []
    for exp in load_experiments(project).values():
        built = is_built(project, exp, recorded)
        rows.append(
            ExperimentInfo(
                id=exp.id,
                phase=exp.phase,
                model=exp.model,
                state="built" if built else "not built",
                role=_role(state, exp.id),
                metrics=read_metrics(exp.metrics_file(project)),
                desc=exp.desc,
                params=exp.params,
            )
        )
    for record in archived_records(project):
        if any(r.id == record["id"] for r in rows):
            continue
        params = record.get("params") or {}
        rows.append(
            ExperimentInfo(
                id=record["id"],
                phase=str(record.get("phase", "")),
                model=str(params.get("model", "")),
                state="archived",
                role=_role(state, record["id"]),
                metrics=_archived_metrics(project, record),
                desc=str(params.get("desc", "")),
                params=params,
            )
        )
    if phase:
        rows = [r for r in rows if r.phase == phase]
    if sort:
        _sort_by_metric(project, rows, sort)
    else:
        rows.sort(key=lambda r: id_order(r.id))
    return rows


def _sort_by_metric(project: Project, rows: list[ExperimentInfo], metric: str) -> None:
    """Best first; rows without a numeric ``metric`` last."""
    promotion = project.settings.promotion
    higher = metric == "r2" or (metric == promotion.metric and promotion.direction == "higher")

    def key(r: ExperimentInfo) -> tuple[int, float]:
        v = r.metrics.get(metric)
        if not isinstance(v, int | float):
            return (1, 0.0)
        return (0, -v if higher else v)

    rows.sort(key=key)


@dataclass
class ExperimentDetail:
    info: ExperimentInfo
    paths: dict[str, str]
    files: list[dict[str, Any]]
    promotion_tests: list[dict[str, Any]]
    events: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self.info),
            "paths": self.paths,
            "files": self.files,
            "promotion_tests": self.promotion_tests,
            "events": self.events,
        }


def show_experiment(project: Project, exp_id: str) -> ExperimentDetail:
    layout.validate_name(exp_id, "experiment ID")
    rows = {r.id: r for r in list_experiments(project)}
    if exp_id not in rows:
        get_experiment(project, exp_id)  # raises the standard unknown-ID error
    info = rows[exp_id]
    if info.state == "archived":
        paths, files = _archived_files(project, exp_id)
    else:
        paths, files = _active_files(project, exp_id)
    events = [
        e
        for e in read_events(project)
        if exp_id in (e.get("id"), e.get("from"), e.get("to"), e.get("replaced"), e.get("against"))
    ]
    return ExperimentDetail(info, paths, files, _promotion_tests(project, exp_id), events)


def _archived_files(project: Project, exp_id: str) -> tuple[dict[str, str], list[dict]]:
    base = project.archive_dir / exp_id
    paths = {"model": project.rel(base / "model"), "experiment": project.rel(base / "experiment")}
    files = [
        {"path": project.rel(p), "size": p.stat().st_size, "state": "archived"}
        for p in sorted(base.rglob("*"))
        if p.is_file()
    ]
    return paths, files


def _active_files(project: Project, exp_id: str) -> tuple[dict[str, str], list[dict]]:
    exp = load_experiments(project)[exp_id]
    paths = {
        "model": project.rel(exp.model_dir(project)),
        "experiment": project.rel(exp.experiment_dir(project)),
    }
    files = [
        {
            "path": a.path + ("/" if a.is_dir else ""),
            "size": a.size,
            "files": a.files,
            "state": a.state,
            "detail": a.detail,
        }
        for a in file_states(project, exp)
    ]
    return paths, files


def _promotion_tests(project: Project, exp_id: str) -> list[dict[str, Any]]:
    """A summary of every promotion test the experiment took part in, as either side."""
    tests = []
    folder = project.promotion_tests_dir
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            doc = read_json(path)
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and exp_id in (doc.get("candidate"), doc.get("baseline")):
            keys = ("candidate", "baseline", "passed", "promoted", "p_value", "timestamp")
            summary = {"path": project.rel(path), **{k: doc.get(k) for k in keys}}
            # Tests written before the bootstrap had versions used version 1.
            summary["method_version"] = doc.get("method_version", 1)
            tests.append(summary)
    return tests


def history(project: Project) -> list[dict[str, Any]]:
    return read_events(project)


# ------------------------------------------------------------------ load_champion


class StaleChampionWarning(UserWarning):
    """The champion copy did not match the ledger (after a merge); it is rebuilt now."""


def _warn_if_stale(project: Project, which: str) -> None:
    import warnings

    from artifactctl.registry.stale import stale_copies

    for stale in stale_copies(project):
        if stale.which == which:
            warnings.warn(
                f"{stale.message}; rebuilding it from the ledger",
                StaleChampionWarning,
                stacklevel=3,
            )


Loader = Callable[[BinaryIO], Any]


@dataclass
class LoadedChampion:
    """The champion's loaded model (and preprocessing, None when the registry names no
    preprocessing file), its folder, and its files' md5s as the ledger recorded them."""

    id: str
    phase: str
    path: Path
    model: Any
    preprocessing: Any
    metadata: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)  # relpath -> md5 (the ledger's)

    def read(self, rel: str) -> bytes:
        """The bytes of one file of the champion folder, checked against the ledger's md5
        (e.g. a tokenizer or a config the model needs)."""
        return _verified(self.path, self.id, self.files, rel)


def load_champion(
    which: str = "champion",
    start: Path | None = None,
    registry: str | None = None,
    loader: Loader | None = None,
    preprocessing_loader: Loader | None = None,
) -> LoadedChampion:
    """The champion's model and preprocessing, each checksum-verified before it is loaded.

    ``which`` is "champion" or "previous"; ``registry`` the model family (a name of
    ``[tool.artifactctl.registries]``; default: the only one). The files are the registry's
    ``model_file`` and ``preprocessing_file`` settings (default model.joblib and
    preprocessing.joblib); ``loader`` turns a binary file object into the model
    (default ``joblib.load``; e.g. ``torch.load``, ``pickle.load``, ``onnx.load``) and
    ``preprocessing_loader`` the preprocessing file (default: ``loader``). Each file is read
    once into memory, its md5 compared with the one the ledger recorded, and only then
    loaded from those bytes, so a file changed between the check and the load cannot slip
    through.
    """
    from artifactctl.project import find_repo

    if which not in ("champion", "previous"):
        raise UsageError("which must be 'champion' or 'previous'")
    project = find_repo(start).with_registry(registry)
    project.recover_interrupted()  # never a journal another process holds the lock for
    _warn_if_stale(project, which)
    path = where(project, which)
    state = state_of(project)
    champ = state.current if which == "champion" else state.previous
    assert champ is not None  # where() raised otherwise
    if loader is None:
        import joblib

        loader = joblib.load
    settings = project.registry
    model = loader(io.BytesIO(_verified(path, champ.id, champ.files, settings.model_file)))
    prep = None
    if settings.preprocessing_file:
        data = _verified(path, champ.id, champ.files, settings.preprocessing_file)
        prep = (preprocessing_loader or loader)(io.BytesIO(data))
    metadata = {}
    if "metadata.json" in champ.files:
        metadata = json.loads(_verified(path, champ.id, champ.files, "metadata.json"))
    return LoadedChampion(champ.id, champ.phase, path, model, prep, metadata, dict(champ.files))


def _verified(path: Path, champ_id: str, files: dict[str, str], rel: str) -> bytes:
    """The bytes of ``path``/``rel``, read once, if their md5 is the one ``files`` records."""
    import hashlib

    expected = files.get(rel)
    if expected is None:
        raise CheckFailed(
            f"champion {champ_id} has no {rel}",
            hint="name the model's files with the registry's `model_file` and "
            "`preprocessing_file` settings (docs/settings.md)",
        )
    data = (path / rel).read_bytes()
    if hashlib.md5(data).hexdigest() != expected:
        raise IntegrityError(
            f"{path / rel} does not match the md5 the ledger recorded; refusing to load it",
            hint="run `artifactctl where champion` to rebuild the copy from the ledger",
        )
    return data
