"""What every command needs without Typer: errors as exit codes, and the project.

``app.command`` (the Typer path) and the fast paths in ``cli`` share these, so an
error reads and exits the same whichever way a command was started.
"""

from __future__ import annotations

import os
import sys

from artifactctl.errors import EXIT_ENVIRONMENT, ArtifactctlError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (7 ms at start-up)
if TYPE_CHECKING:
    from typing import Any

_debug = {"on": bool(os.environ.get("ARTIFACTCTL_DEBUG"))}


def classify(exc: Exception) -> tuple[str, str, int]:
    """(message, hint, exit code) for an exception no command raised on purpose."""
    module = type(exc).__module__ or ""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if module.startswith(("dvc", "dvc_data", "dvc_objects", "scmrepo")):
        return (
            f"DVC: {text}",
            "run the matching `dvc` command with -v for details",
            EXIT_ENVIRONMENT,
        )
    if isinstance(exc, OSError):
        return (
            f"{type(exc).__name__}: {text}",
            "check the path, permissions and free space",
            EXIT_ENVIRONMENT,
        )
    return (
        f"internal error: {type(exc).__name__}: {text}",
        "run with --debug for the traceback and report it",
        EXIT_ENVIRONMENT,
    )


def report_failure(message: str, hint: str, exc: BaseException | None) -> None:
    """One red line and a hint on stderr (the traceback too with --debug)."""
    from artifactctl.cli.output import Output

    if _debug["on"] and exc is not None:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    Output().error(message, hint)


def exit_code_of(exc: BaseException) -> int:
    """Report ``exc`` as ``app.command`` does and return the exit code it stands for."""
    if isinstance(exc, ArtifactctlError):
        report_failure(str(exc), exc.hint, exc)
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        report_failure("interrupted", "", None)
        return 130
    if isinstance(exc, Exception):
        message, hint, code = classify(exc)
        report_failure(message, hint, exc)
        return code
    raise exc


def open_project(out: Any = None) -> Any:
    """Find the repository and finish any operation a crash interrupted.

    Recovery runs under the repository lock: if another artifactctl command
    holds it, its journal is live, not interrupted, and is left alone.
    """
    from artifactctl.cli.output import Output
    from artifactctl.errors import LockHeld
    from artifactctl.project import find_repo

    project = find_repo()
    sink = out or Output()
    project.on_recover = lambda message: sink.warn(f"recovered an interrupted operation: {message}")
    if project.has_journals():
        try:
            with project.lock(timeout=0):
                pass  # taking the lock recovers
        except LockHeld:
            pass  # a live command owns the journal
    return project
