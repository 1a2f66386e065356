"""Reading DVC's YAML files (dvc.yaml, dvc.lock, *.dvc, params.yaml) fast and safely.

PyYAML's libyaml loader reads a 20,000-line lock file in milliseconds; a file
that does not parse is a UsageError naming the file and line.

Importing PyYAML alone costs more than a small ``verify`` spends on anything
else, so inside ``parse_cache`` what was parsed is remembered (marshal, keyed by
the file's path and the MD5 of its bytes: a file is always read, and a changed
one is parsed again).
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
from collections.abc import Iterator
from pathlib import Path

from artifactctl.errors import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (7 ms at start-up)
if TYPE_CHECKING:
    from typing import Any

MAX_CACHED = 512  # files; past this, entries not used by the current command are dropped


class _ParseCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, tuple[bytes, bytes]] = {}
        self.used: set[str] = set()
        self.dirty = False
        with contextlib.suppress(OSError, EOFError, ValueError, TypeError):
            data = marshal.loads(path.read_bytes())
            if isinstance(data, dict):
                self.entries = data

    def get(self, key: str, digest: bytes) -> tuple[bool, Any]:
        self.used.add(key)
        entry = self.entries.get(key)
        if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == digest:
            with contextlib.suppress(EOFError, ValueError, TypeError):
                return True, marshal.loads(entry[1])
        return False, None

    def put(self, key: str, digest: bytes, data: Any) -> None:
        try:
            blob = marshal.dumps(data)
        except ValueError:  # a type marshal does not know (a YAML timestamp): not cached
            return
        self.entries[key] = (digest, blob)
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        if len(self.entries) > MAX_CACHED:
            self.entries = {k: v for k, v in self.entries.items() if k in self.used}
        from artifactctl.fs.atomic import atomic_write_bytes

        with contextlib.suppress(OSError):  # only a cache: a read-only repository is fine
            atomic_write_bytes(self.path, marshal.dumps(self.entries))


_cache: list[_ParseCache] = []


@contextlib.contextmanager
def parse_cache(path: Path) -> Iterator[None]:
    """Remember parsed files in ``path`` for the ``load_yaml`` calls made inside."""
    cache = _ParseCache(path)
    _cache.append(cache)
    try:
        yield
    finally:
        _cache.remove(cache)
    cache.save()


def load_yaml(path: Path, *, label: str | None = None) -> Any:
    name = label or path.name
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {name}: {exc}") from None
    cache = _cache[-1] if _cache else None
    if cache is not None:
        key = str(path)
        digest = hashlib.md5(raw).digest()
        hit, data = cache.get(key, digest)
        if hit:
            return data
    data = _parse(text, name)
    if cache is not None:
        cache.put(key, digest, data)
    return data


def _parse(text: str, name: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(
            f"{name} is not valid YAML{where}: {problem}", hint=f"fix {name} and run again"
        ) from None
