"""Small helpers the stages share: atomic CSV/JSON/joblib writes and versions."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from artifactctl.fs.atomic import atomic_output, atomic_write_json


def write_csv(frame: Any, path: Path) -> None:
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.10g")


def write_json(data: Any, path: Path) -> None:
    atomic_write_json(path, json.loads(json.dumps(data, default=_jsonable)))


def dump_joblib(obj: Any, path: Path) -> None:
    import joblib

    with atomic_output(path) as tmp:
        joblib.dump(obj, tmp)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("scikit-learn", "numpy", "pandas", "joblib", "artifactctl"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out


def ensure_overwritable(ctx: Any, path: Path) -> None:
    """Stop before any work if the overwrite policy forbids replacing ``path``.

    Under ``dvc repro`` DVC has already removed the stage's outputs (the policy
    was decided by ``artifactctl run``); this catches a stage run by hand in
    production mode over a registered experiment's artifacts.
    """
    if not ctx.should_overwrite(path):
        raise SystemExit(
            f"{path} belongs to a registered experiment and exists; "
            "refusing to replace it (run through `artifactctl run --mode production --force`, "
            "or set ARTIFACTCTL_FORCE=1)"
        )
