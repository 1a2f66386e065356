"""The repository artifactctl works in: its root, settings, paths and lock.

Finding the repository never imports DVC: a DVC repository is a folder with a
``.dvc/`` directory inside a git work tree.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from artifactctl.config import Registry, Settings, load_settings
from artifactctl.errors import LockHeld, NotARepository, UsageError


@dataclass
class Project:
    root: Path
    settings: Settings = field(repr=False)
    # Told about each interrupted operation that taking the lock completed or undid.
    on_recover: Callable[[str], None] | None = field(default=None, repr=False, compare=False)
    # The registry (model family) registry commands work on: a name of
    # [tool.artifactctl.registries.NAME]; None is the default (see ``registry_name``).
    selected_registry: str | None = None
    # a tests folder other than the global one (see ``with_tests_dir``)
    tests_override: str | None = None

    @property
    def artifacts(self) -> Path:
        return self.root / self.settings.artifacts_root

    @property
    def tests_dir(self) -> Path:
        """Where test-mode runs go (``tests_dir``, relative to the repository)."""
        return self.root / (self.tests_override or self.settings.tests_dir)

    def family_tests(self) -> list[tuple[Path, Path]]:
        """(home, tests folder) of each family with its own ``tests_dir``, deepest home
        first. The home is the folder holding the family's tests folder: a test run's copy
        of an artifact under it goes to ``<tests folder>/<name>/<path below the home>``."""
        from artifactctl.templates import family_tests_dir

        out = []
        for name, registry in sorted(self.settings.registries.items()):
            if registry.tests_dir:
                rel = family_tests_dir(registry.tests_dir, registry.fields, f"registries.{name}")
                tests = self.root / rel
                if tests != self.root / self.settings.tests_dir:
                    out.append((tests.parent, tests))
        return sorted(set(out), key=lambda pair: (-len(pair[0].parts), str(pair[0])))

    def every_tests_dir(self) -> list[Path]:
        """Every folder test runs go to: the global ``tests_dir``, then each family's."""
        found = [self.root / self.settings.tests_dir]
        for _, tests in self.family_tests():
            if tests not in found:
                found.append(tests)
        return found

    def with_tests_dir(self, tests: Path) -> Project:
        """This project with ``tests`` (one of ``every_tests_dir``) as its tests folder."""
        import dataclasses

        return dataclasses.replace(self, tests_override=self.rel(tests))

    @property
    def registry_name(self) -> str | None:
        """The selected registry's name; None for ``[tool.artifactctl.registry]``.

        With no selection: the ``registry`` table, unless ``registries`` declares exactly
        one family and the ``registry`` table is left at its defaults (then that one).
        """
        named = self.settings.registries
        if self.selected_registry == "":  # the [tool.artifactctl.registry] table itself
            return None
        if self.selected_registry is not None:
            if self.selected_registry not in named:
                known = ", ".join(sorted(named)) or "none"
                raise UsageError(
                    f"unknown registry {self.selected_registry!r} (declared: {known})",
                    hint="declare it as [tool.artifactctl.registries.NAME] in pyproject.toml",
                )
            return self.selected_registry
        if len(named) == 1 and self.settings.registry == Registry():
            return next(iter(named))
        if len(named) > 1 and self.settings.registry == Registry():
            raise UsageError(
                f"this repository has several registries ({', '.join(sorted(named))})",
                hint="choose one with --registry NAME",
            )
        return None

    @property
    def registry(self) -> Registry:
        """The settings of the selected registry."""
        name = self.registry_name
        return self.settings.registry if name is None else self.settings.registries[name]

    def _per_registry(self, base: str) -> Path:
        name = self.registry_name
        return self.artifacts / base if name is None else self.artifacts / base / name

    @property
    def registry_dir(self) -> Path:
        """The selected registry's ledger and champion copies (models/production[/NAME])."""
        from artifactctl.layout import PRODUCTION

        return self._per_registry(PRODUCTION)

    @property
    def archive_dir(self) -> Path:
        """The selected registry's archive (archive[/NAME])."""
        from artifactctl.layout import ARCHIVE

        return self._per_registry(ARCHIVE)

    @property
    def promotion_tests_dir(self) -> Path:
        """The selected registry's promotion tests (experiments/promotion_tests[/NAME])."""
        from artifactctl.layout import PROMOTION_TESTS

        return self._per_registry(PROMOTION_TESTS)

    def every_registry(self) -> list[Project]:
        """This project once per registry: the ``registry`` table, then each named one."""
        return [self.with_registry(name) for name in ["", *sorted(self.settings.registries)]]

    def with_registry(self, name: str | None) -> Project:
        """This project with registry ``name`` selected (None: the default)."""
        import dataclasses

        chosen = dataclasses.replace(self, selected_registry=name)
        _ = chosen.registry_name  # an unknown name is bad input now, not later
        return chosen

    @property
    def dvc_dir(self) -> Path:
        return self.root / ".dvc"

    @property
    def state_dir(self) -> Path:
        """artifactctl's private, never-tracked state (DVC git-ignores .dvc/tmp)."""
        return self.dvc_dir / "tmp" / "artifactctl"

    @property
    def backups_dir(self) -> Path:
        """Copies of the local files a pull replaced: outside every DVC-tracked folder,
        git-ignored and .dvcignored by ``.artifactctl/``'s own ignore files (see
        artifactctl/backups.py). Not under .dvc/tmp: these are the user's files,
        and clearing DVC's temporary folder is a common repair."""
        return self.root / ".artifactctl" / "backups"

    @cached_property
    def cache_dir(self) -> Path:
        from artifactctl.dvc.config import cache_dir

        return cache_dir(self.root)

    def rel(self, path: Path) -> str:
        """Repository-relative POSIX path."""
        return Path(os.path.abspath(path)).relative_to(self.root).as_posix()

    @contextlib.contextmanager
    def lock(self, timeout: float | None = None, recover: bool = True) -> Iterator[None]:
        """Serialise commands that change the repository (flock; released on crash).

        Whoever holds the lock is the only live writer, so a crash journal found
        while holding it belongs to a dead process: it is completed or undone
        here, before the caller's work starts.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        timeout = self.settings.lock_timeout if timeout is None else timeout
        fd = os.open(self.state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = _read_holder(fd)
                        raise LockHeld(
                            f"the repository is locked by another artifactctl command{holder}"
                        ) from None
                    time.sleep(0.1)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            if recover:
                self._recover()
            yield
        finally:
            os.close(fd)  # closing releases the flock

    @property
    def journal_dir(self) -> Path:
        """Crash journals (see artifactctl.journal), one folder per unfinished operation."""
        return self.state_dir / "journal"

    def has_journals(self) -> bool:
        try:
            with os.scandir(self.journal_dir) as it:
                return any(it)
        except FileNotFoundError:
            return False

    def recover_interrupted(self) -> None:
        """Finish operations a crash interrupted, if the repository lock is free.

        Recovery only ever runs under the lock: while another artifactctl command holds it,
        its journal is live, not interrupted, and is left alone (the caller then reads the
        committed state).
        """
        if not self.has_journals():
            return
        with contextlib.suppress(LockHeld), self.lock(timeout=0):
            pass  # taking the lock recovers

    def _recover(self) -> None:
        if not self.has_journals():
            return
        from artifactctl.journal import recover

        for message in recover(self):
            if self.on_recover is not None:
                self.on_recover(message)


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip())
        return f" (pid {pid})"
    return ""


def git_commit(root: Path) -> str | None:
    """The commit checked out in ``root`` (None outside git or before the first commit)."""
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding ``.dvc/`` inside a git work tree."""
    here = Path(os.path.abspath(start or Path.cwd()))
    dvc_root = next((p for p in (here, *here.parents) if (p / ".dvc").is_dir()), None)
    if dvc_root is None:
        raise NotARepository(f"{here} is not inside a DVC repository (no .dvc/ found)")
    if not any((p / ".git").exists() for p in (dvc_root, *dvc_root.parents)):
        raise NotARepository(f"{dvc_root} is a DVC repository but not inside a git repository")
    return dvc_root


def find_repo(start: Path | None = None) -> Project:
    root = find_root(start)
    return Project(root=root, settings=load_settings(root))
