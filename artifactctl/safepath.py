"""Paths and IDs read from files, validated like command-line arguments (invariant 8).

dvc.lock, ``.dvc`` files, ``.dir`` manifests, the ledger, champion.json, archived.json,
run.json, manifest.json and params.yaml come from git: they say which artifacts exist,
never where files may go. Every path such a file names goes through ``contained`` before
anything is read, written or deleted there; every ID through ``checked_id``. A violation
is one ``UntrustedMetadata`` line (exit 2) naming the file and the field.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from pathlib import Path

from artifactctl.errors import UsageError

MAX_NAME = 100
# Unicode categories refused in names and IDs: controls, format characters (bidi,
# zero-width), line and paragraph separators; each can forge or split an error line.
# Paths read from files may hold them (DVC tracks any file name; messages show paths
# with repr), so ``contained`` refuses only NUL.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})

_MD5 = re.compile(r"[0-9a-f]{32}(\.dir)?")


def validate_name(name: str, what: str = "name") -> str:
    """A test name, run ID or experiment ID that is safe as one path component.

    Rejects (exit 2): empty, absolute, '.', '..' or containing '..', a path
    separator, characters of the Unicode categories Cc, Cf, Zl, Zp (NUL, controls,
    bidi and zero-width marks, line separators), leading/trailing whitespace, a
    leading '-', or more than 100 characters.
    """
    if not isinstance(name, str) or not name:
        raise UsageError(f"{what} must not be empty")
    if len(name) > MAX_NAME:
        raise UsageError(f"{what} is {len(name)} characters long; at most {MAX_NAME} allowed")
    char = bad_character(name)
    if char is not None:
        raise UsageError(f"{what} {name!r} contains the character U+{ord(char):04X}")
    if "/" in name or "\\" in name or os.sep in name:
        raise UsageError(f"{what} {name!r} must not contain a path separator")
    if ".." in name or name == ".":
        raise UsageError(f"{what} {name!r} must not contain '..' or be '.'")
    if name != name.strip():
        raise UsageError(f"{what} {name!r} must not start or end with whitespace")
    if name.startswith("-"):
        raise UsageError(f"{what} {name!r} must not start with '-'")
    return name


def bad_character(text: str) -> str | None:
    """The first character of ``text`` in a refused Unicode category, if any."""
    for char in text:
        if unicodedata.category(char) in REFUSED_CATEGORIES:
            return char
    return None


class UntrustedMetadata(UsageError):
    """A file names a path or ID that is not allowed where it is used."""

    default_hint = "the file was edited by hand or by a commit; restore it (`git checkout -- FILE`)"


def contained(
    root: Path | None, rel: object, *, what: str, source: str, parents_only: bool = True
) -> str:
    """``rel`` as a normalised relative POSIX path that stays inside ``root``.

    Refuses (``UntrustedMetadata``, exit 2) a non-string, an empty path, '.', an absolute
    path, any '..' component, and NUL. With a ``root``,
    no folder on the way from ``root`` to the path may be a symbolic link (the last
    component too unless ``parents_only``): a link would take writes out of ``root``.
    """
    where = f"{source}: {what}"
    if not isinstance(rel, str):
        raise UntrustedMetadata(f"{where} must be a path string, got {type(rel).__name__}")
    if "\0" in rel:
        raise UntrustedMetadata(f"{where} {rel!r} contains the character U+0000")
    if rel.startswith("/"):
        raise UntrustedMetadata(f"{where} {rel!r} is absolute; only relative paths are allowed")
    # PurePosixPath's normalisation as plain string work (a .dir manifest has one per file)
    parts = [p for p in rel.split("/") if p and p != "."]
    if ".." in parts:
        raise UntrustedMetadata(f"{where} {rel!r} contains '..'")
    if not parts:
        raise UntrustedMetadata(f"{where} must name a path inside its folder, got {rel!r}")
    if root is not None:
        check_no_links(root, parts if not parents_only else parts[:-1], where=where)
    return "/".join(parts)


# Where a component of "/"-joined paths, each between NULs, is empty, "." or "..".
_NOT_NORMAL = tuple(
    f"{before}{part}{after}" for part in ("", ".", "..") for before in "\0/" for after in "\0/"
)


def already_contained(rels: list[object]) -> bool:
    """Whether ``contained(None, rel, ...)`` would return every one of ``rels`` unchanged.

    A dozen substring searches of the joined paths instead of a split per path: a
    ``.dir`` manifest has a path per file, nearly always already normal. False means
    "check them one by one" (``contained`` then names the bad one).
    """
    if not rels:
        return True
    try:
        joined = "\0".join(rels)  # type: ignore[arg-type]  # a non-string: TypeError
    except TypeError:
        return False
    if joined.count("\0") != len(rels) - 1:  # NUL inside a path
        return False
    text = f"\0{joined}\0"
    return not any(bad in text for bad in _NOT_NORMAL)


def check_no_links(root: Path, parts: list[str], *, where: str) -> None:
    """Refuse when a component of ``root/parts...`` that exists is a symbolic link."""
    current = os.fspath(root)
    for part in parts:
        current = os.path.join(current, part)
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise UntrustedMetadata(f"{where}: cannot inspect {current}: {exc.strerror}") from None
        if stat.S_ISLNK(mode):
            raise UntrustedMetadata(
                f"{where}: {current} is a symbolic link; refusing to follow it out of {root}"
            )


def checked_id(value: object, *, what: str, source: str) -> str:
    """An ID read from a file (an experiment ID, a run name, a phase): one safe path component."""
    if not isinstance(value, str):
        raise UntrustedMetadata(f"{source}: {what} must be a string, got {value!r}")
    try:
        return validate_name(value, what)
    except UsageError as exc:
        raise UntrustedMetadata(f"{source}: {exc.message}") from None


def within(root: Path, path: Path, *, what: str, source: str) -> Path:
    """``path`` (built from ``root`` and validated parts) must lie inside ``root``."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    contained(root, rel.replace(os.sep, "/"), what=what, source=source)
    return path


def all_md5(values: list[object]) -> bool:
    """Whether ``checked_md5`` would accept every one of ``values``."""
    try:
        return all(map(_MD5.fullmatch, values))  # type: ignore[arg-type]
    except TypeError:  # not a string
        return False


def checked_md5(value: object, *, what: str, source: str) -> str:
    """A recorded md5 (32 hex digits, ``.dir`` for a folder): it also names a cache object."""
    if not isinstance(value, str) or not _MD5.fullmatch(value):
        raise UntrustedMetadata(f"{source}: {what} is not an md5: {value!r:.80}")
    return value


class NotRegularFile(UntrustedMetadata):
    """A FIFO, device or socket where a regular file belongs: never read, never waited on."""


def open_regular(path: Path | str) -> int:
    """A read-only descriptor of ``path``, which must be a regular file.

    Opened with O_NONBLOCK (a FIFO's open would wait for a writer forever) and then
    checked with fstat, so what is read is what was checked.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(f"{path} is not a regular file; not read")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path | str) -> bytes:
    """The bytes of the regular file ``path`` (``NotRegularFile`` for anything else)."""
    with os.fdopen(open_regular(path), "rb") as fh:
        return fh.read()
