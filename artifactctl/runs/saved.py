"""save_run / load_run: a run's model, preprocessing, metrics and metadata.

A saved run is a folder ``<routed base>/runs/<run_id>/`` (the artifacts root in
production, ``artifacts/tests/<name>/`` in test mode) holding model.joblib,
preprocessing.joblib, feature_metadata.json, metrics.json and manifest.json
(sha256 and size of each file). The folder is built under a temporary name and
renamed into place, so a crash never leaves a half-written run under its name.

``load_run`` checks every file against the manifest *before* unpickling
anything, and unpickles the very bytes it checked. The manifest guards against
corruption and accidental edits, not against someone who rewrites it too: only
load runs from repositories you trust.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artifactctl import layout
from artifactctl.config import Mode
from artifactctl.errors import IntegrityError, UsageError
from artifactctl.fs.atomic import atomic_write_bytes, fsync_dir, new_dir_mode
from artifactctl.project import Project, find_repo
from artifactctl.runs import policy
from artifactctl.runs.context import context
from artifactctl.safepath import UntrustedMetadata, contained, read_regular

MODEL = "model.joblib"
PREPROCESSING = "preprocessing.joblib"
FEATURES = "feature_metadata.json"
METRICS = "metrics.json"
PICKLES = (MODEL, PREPROCESSING)


def json_safe(value: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays unwrapped, paths as strings, NaN/inf as None."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return json_safe(value.tolist())
    if hasattr(value, "item"):
        return json_safe(value.item())
    return str(value)


def _feature_count(model: Any, feature_metadata: Any) -> int | None:
    meta = feature_metadata
    if isinstance(meta, dict):
        for key in ("features", "feature_names", "columns"):
            if isinstance(meta.get(key), list | tuple):
                return len(meta[key])
        if isinstance(meta.get("n_features"), int):
            return int(meta["n_features"])
    elif isinstance(meta, list | tuple):
        return len(meta)
    n = getattr(model, "n_features_in_", None)
    return int(n) if n is not None else None


def _model_type(model: Any) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def save_run(
    model: Any,
    preprocessors: Any = None,
    metrics: dict[str, Any] | None = None,
    feature_metadata: Any = None,
    run_id: str | None = None,
    mode: Mode | str | None = None,
    *,
    test_name: str | None = None,
    force: bool = False,
    start: Path | None = None,
) -> dict[str, Any]:
    """Save a run into the routed ``runs/<run_id>/`` folder; returns a JSON-safe summary.

    Test mode replaces a run of the same ID; production refuses to (UsageError,
    exit 2) unless ``force``.
    """
    import joblib

    ctx = context(mode=mode, test_name=test_name, start=start)
    project = ctx.project
    run_id = layout.validate_name(run_id or layout.new_run_id(), "run ID")
    final = ctx.path(f"{layout.RUNS}/{run_id}")
    # no linked folder on the way (tests/NAME, runs, the run itself): writes stay inside
    contained(
        project.root, project.rel(final), what="run folder", source="save_run", parents_only=False
    )
    if final.exists() and ctx.mode == Mode.PRODUCTION and not force:
        raise UsageError(
            f"run {run_id} already exists in production ({project.rel(final)})",
            hint="choose another run_id, or pass force=True to replace it",
        )
    metrics_safe = json_safe(metrics or {})
    features_safe = json_safe(feature_metadata if feature_metadata is not None else {})
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run_id}.", suffix=".tmp", dir=final.parent))
    os.chmod(staging, new_dir_mode())  # mkdtemp's 0700 would become the run folder's mode
    try:
        blobs: dict[str, bytes] = {}
        for name, obj in ((MODEL, model), (PREPROCESSING, preprocessors)):
            buf = io.BytesIO()
            joblib.dump(obj, buf)
            blobs[name] = buf.getvalue()
        blobs[FEATURES] = _json_bytes(features_safe)
        blobs[METRICS] = _json_bytes(metrics_safe)
        import hashlib

        files = {}
        for name, data in blobs.items():
            atomic_write_bytes(staging / name, data)
            files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        manifest = {
            "schema": layout.SAVED_RUN_SCHEMA,
            "run_id": run_id,
            "mode": ctx.mode.value,
            "test_name": ctx.test_name if ctx.mode == Mode.TEST else None,
            "created": policy.now_iso(),
            "model_type": _model_type(model),
            "feature_count": _feature_count(model, feature_metadata),
            "metrics": metrics_safe,
            "files": files,
        }
        atomic_write_bytes(staging / layout.SAVED_RUN_MANIFEST, _json_bytes(manifest))
        _swap_into_place(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    from artifactctl.runs.saved_place import account_for

    account_for(ctx, final)
    rel = project.rel(final)
    return {
        "run_id": run_id,
        "mode": ctx.mode.value,
        "model_type": manifest["model_type"],
        "model_path": f"{rel}/{MODEL}",
        "preprocessing_path": f"{rel}/{PREPROCESSING}",
        "artifacts_path": rel,
        "metrics": metrics_safe,
        "feature_count": manifest["feature_count"],
    }


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def _swap_into_place(staging: Path, final: Path) -> None:
    """Rename the finished folder to its name; an old run of that name goes last."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(staging, final)
    fsync_dir(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --- loading and inspecting ---


@dataclass
class LoadedRun:
    run_id: str
    path: Path
    model: Any
    preprocessors: Any
    metrics: dict[str, Any]
    feature_metadata: Any
    metadata: dict[str, Any]  # the manifest


@dataclass
class FileState:
    name: str
    size: int | None
    expected_size: int | None
    state: str  # ok | modified | missing | extra
    sha256: str | None = None


@dataclass
class RunInfo:
    kind: str  # saved (save_run) | test (artifactctl run)
    run_id: str
    path: str  # repository-relative
    mode: str | None
    created: str | None
    files: list[FileState] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    model_type: str | None = None

    @property
    def ok(self) -> bool:
        return all(f.state == "ok" for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "ok": self.ok}


def resolve_run(project: Project, run: str | os.PathLike[str]) -> Path:
    """A run folder from a path, or an ID looked up in production then in the test runs.

    Saved runs (``runs/<id>/manifest.json``) and test runs
    (``tests/<name>/run.json``) are both found.
    """
    text = os.fspath(run)
    candidate = Path(text)
    if os.sep not in text and "/" not in text:
        layout.validate_name(text, "run ID")  # before any stat: a 300-character name is input
    if os.sep in text or "/" in text or candidate.is_dir():
        path = candidate if candidate.is_absolute() else Path.cwd() / candidate
        if (path / layout.SAVED_RUN_MANIFEST).is_file() or (path / layout.RUN_MANIFEST).is_file():
            return path
        raise UsageError(f"{text} is not a run folder (no {layout.SAVED_RUN_MANIFEST})")
    run_id = layout.validate_name(text, "run ID")
    folders = run_folders(project).get(run_id, [])
    if not folders:
        raise UsageError(
            f"no run {run_id!r} under {project.rel(project.artifacts)}/",
            hint="give a run ID from save_run, a test run name (a folder under "
            "artifacts/tests/) or a run folder",
        )
    if len(folders) > 1:
        listing = ", ".join(project.rel(p) for p in folders)
        raise UsageError(f"run ID {run_id!r} is ambiguous: {listing}", hint="give the folder path")
    return folders[0]


def run_folders(project: Project) -> dict[str, list[Path]]:
    """run ID -> every folder holding a run of that ID (more than one: ambiguous).

    Saved runs ``runs/<id>/``, test runs ``tests/<name>/`` and runs saved in a test run
    ``tests/<name>/runs/<id>/``. A folder or manifest that is a symlink is skipped, and
    so are hidden folders (a run being written is staged under a hidden name).
    """
    root = project.artifacts
    found: dict[str, list[Path]] = {}

    def add(run_id: str, folder: Path, manifest: str) -> None:
        if _regular(folder / manifest):
            found.setdefault(run_id, []).append(folder)

    for folder in _subdirs(root / layout.RUNS):
        add(folder.name, folder, layout.SAVED_RUN_MANIFEST)
    # a run's folder in a family's tests folder is a part of the run in the global one
    tests = [t for t in _subdirs(project.tests_dir)]
    own = {t.name for t in tests}
    for family in project.every_tests_dir()[1:]:
        tests += [t for t in _subdirs(family) if t.name not in own]
    for test in tests:
        # a test run (run.json), or a run saved under a test name (manifest.json)
        if _regular(test / layout.RUN_MANIFEST):
            add(test.name, test, layout.RUN_MANIFEST)
        else:
            add(test.name, test, layout.SAVED_RUN_MANIFEST)
        for folder in _subdirs(test / layout.RUNS):
            add(folder.name, folder, layout.SAVED_RUN_MANIFEST)
    return found


def _subdirs(path: Path) -> list[Path]:
    if os.path.islink(path):
        return []
    try:
        with os.scandir(path) as it:
            entries = [e for e in it if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(Path(e.path) for e in entries if not e.name.startswith("."))


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _manifest(path: Path, name: str) -> dict[str, Any]:
    try:
        data = json.loads(read_regular(path / name).decode("utf-8"))
    except FileNotFoundError:
        raise IntegrityError(f"{path / name} is missing") from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise IntegrityError(f"{path / name} is not valid JSON (or nested too deeply)") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise IntegrityError(f"{path / name} has no 'files' table")
    return data


def _safe_member(folder: Path, rel: str) -> Path:
    try:
        checked = contained(
            folder, rel, what="a files key", source=f"the manifest of {folder}", parents_only=False
        )
    except UntrustedMetadata as exc:
        raise IntegrityError(f"manifest names a file outside its run folder: {exc}") from None
    return folder / checked


def _checked_bytes(folder: Path, name: str, entry: Any) -> bytes:
    if not isinstance(entry, dict) or "sha256" not in entry:
        raise IntegrityError(f"manifest entry for {name} has no sha256")
    path = _safe_member(folder, name)
    try:
        data = read_regular(path)
    except FileNotFoundError:
        raise IntegrityError(f"{path} is missing") from None
    import hashlib

    if entry.get("size") is not None and len(data) != entry["size"]:
        raise IntegrityError(
            f"{path}: size {len(data)} bytes, manifest says {entry['size']}: not loaded"
        )
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise IntegrityError(f"{path}: sha256 does not match the manifest: not loaded")
    return data


def load_run(run_id_or_path: str | os.PathLike[str], *, start: Path | None = None) -> LoadedRun:
    """Load a saved run after checking every file against its manifest.

    Raises IntegrityError (exit 1) if any file is missing, truncated, changed
    or swapped; nothing is unpickled unless every listed file matches.
    """
    import joblib

    project = find_repo(start)
    folder = resolve_run(project, run_id_or_path)
    if (
        not (folder / layout.SAVED_RUN_MANIFEST).exists()
        and (folder / layout.RUN_MANIFEST).exists()
    ):
        raise UsageError(
            f"{project.rel(folder)} is a test run of `artifactctl run`, not a saved run",
            hint="use `artifactctl show-run` to inspect it",
        )
    manifest = _manifest(folder, layout.SAVED_RUN_MANIFEST)
    files = manifest["files"]
    for name in PICKLES:
        if name not in files:
            raise IntegrityError(f"{folder}: the manifest does not list {name}: not loaded")
    blobs = {name: _checked_bytes(folder, name, entry) for name, entry in files.items()}
    model = joblib.load(io.BytesIO(blobs[MODEL]))
    preprocessors = joblib.load(io.BytesIO(blobs[PREPROCESSING]))
    metrics = json.loads(blobs[METRICS]) if METRICS in blobs else {}
    features = json.loads(blobs[FEATURES]) if FEATURES in blobs else None
    return LoadedRun(
        run_id=str(manifest.get("run_id", folder.name)),
        path=folder,
        model=model,
        preprocessors=preprocessors,
        metrics=metrics,
        feature_metadata=features,
        metadata=manifest,
    )


def inspect_run(project: Project, run: str | os.PathLike[str]) -> RunInfo:
    """A run's files with sizes and checksum state, and its metrics (nothing unpickled)."""
    from artifactctl.hashing import sha256_file, walk_files

    folder = resolve_run(project, run)
    saved = (folder / layout.SAVED_RUN_MANIFEST).is_file()
    name = layout.SAVED_RUN_MANIFEST if saved else layout.RUN_MANIFEST
    manifest = _manifest(folder, name)
    info = RunInfo(
        kind="saved" if saved else "test",
        run_id=str(manifest.get("run_id") or manifest.get("name") or folder.name),
        path=project.rel(folder),
        mode=manifest.get("mode"),
        created=manifest.get("created"),
        model_type=manifest.get("model_type"),
    )
    listed = manifest["files"]
    for rel, entry in sorted(listed.items()):
        path = _safe_member(folder, rel)
        expected = entry.get("size") if isinstance(entry, dict) else None
        if not path.is_file():
            info.files.append(FileState(rel, None, expected, "missing"))
            continue
        digest = sha256_file(path)
        ok = isinstance(entry, dict) and digest == entry.get("sha256")
        info.files.append(
            FileState(rel, path.stat().st_size, expected, "ok" if ok else "modified", digest)
        )
    skip = {name, layout.KEEP_MARKER}
    for path in sorted(walk_files(folder)):
        rel = path.relative_to(folder).as_posix()
        if (
            rel not in listed
            and rel not in skip
            and not (saved is False and rel.startswith(layout.RUNS + "/"))
        ):
            info.files.append(FileState(rel, path.stat().st_size, None, "extra"))
    if saved:
        info.metrics = manifest.get("metrics") or {}
    else:
        info.metrics = _test_run_metrics(folder)
    return info


def _test_run_metrics(folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    exp_root = folder / layout.EXPERIMENTS
    if exp_root.is_dir():
        for metrics in sorted(exp_root.glob(f"*/{METRICS}")):
            try:
                out[metrics.parent.name] = json.loads(metrics.read_text())
            except ValueError:
                out[metrics.parent.name] = None
    return out
