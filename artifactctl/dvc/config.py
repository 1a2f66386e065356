"""Read DVC's own config files (.dvc/config, .dvc/config.local) without importing DVC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from artifactctl.errors import RemoteError, SettingsError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (7 ms at start-up)
if TYPE_CHECKING:
    from typing import Any

_REMOTE_SECTION = re.compile(r'^remote\s+"(?P<name>[^"]+)"$')


@dataclass(frozen=True)
class Remote:
    name: str
    url: str
    options: dict[str, str]
    is_default: bool = False

    @property
    def is_local(self) -> bool:
        return "://" not in self.url

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    def local_path(self, root: Path) -> Path:
        """A local remote's folder; relative URLs are relative to .dvc/ as in DVC."""
        path = Path(self.url).expanduser()
        return path if path.is_absolute() else (root / ".dvc" / path).resolve()


def read_config(root: Path) -> dict[str, Any]:
    """.dvc/config overlaid by .dvc/config.local, as nested dicts."""
    from configobj import ConfigObj, ConfigObjError

    merged: dict[str, Any] = {}
    for name in ("config", "config.local"):
        path = root / ".dvc" / name
        if not path.is_file():
            continue
        try:
            conf = ConfigObj(str(path), encoding="utf-8", interpolation=False)
        except ConfigObjError as exc:
            raise SettingsError(f".dvc/{name} is not a valid DVC config: {exc}") from None
        for section, values in conf.items():
            if isinstance(values, dict):
                merged.setdefault(section, {}).update(values)
    return merged


def _mentions(root: Path, word: str) -> bool:
    """Whether .dvc/config or .dvc/config.local could hold a setting about ``word``."""
    for name in ("config", "config.local"):
        try:
            text = (root / ".dvc" / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if word in text.lower():
            return True
    return False


def remotes(root: Path) -> list[Remote]:
    config = read_config(root)
    default = config.get("core", {}).get("remote")
    out = []
    for section, values in config.items():
        match = _REMOTE_SECTION.match(section.strip("'"))
        if match and "url" in values:
            name = match["name"]
            options = {k: str(v) for k, v in values.items() if k != "url"}
            out.append(Remote(name, str(values["url"]), options, name == default))
    return sorted(out, key=lambda r: r.name)


def get_remote(root: Path, name: str | None = None) -> Remote:
    """The named remote, or the default one; RemoteError (exit 3) when there is none."""
    known = remotes(root)
    if name is None:
        for remote in known:
            if remote.is_default:
                return remote
        raise RemoteError(
            "no default DVC remote is configured",
            hint="add one: `artifactctl remote add NAME URL --default`",
        )
    for remote in known:
        if remote.name == name:
            return remote
    names = ", ".join(r.name for r in known) or "none"
    raise RemoteError(f"unknown remote {name!r} (configured: {names})")


def cache_dir(root: Path) -> Path:
    if not _mentions(root, "cache"):  # the usual case: no configobj import needed
        return root / ".dvc" / "cache"
    configured = read_config(root).get("cache", {}).get("dir")
    if not configured:
        return root / ".dvc" / "cache"
    path = Path(str(configured)).expanduser()
    return path if path.is_absolute() else (root / ".dvc" / path).resolve()


def cache_types(root: Path) -> list[str]:
    """DVC's ``cache.type``, in order (``reflink,copy`` when unset, as DVC's default)."""
    if not _mentions(root, "type"):
        return ["reflink", "copy"]
    configured = read_config(root).get("cache", {}).get("type")
    if not configured:
        return ["reflink", "copy"]
    items = configured if isinstance(configured, list) else str(configured).split(",")
    return [t.strip() for t in items if t.strip()]
