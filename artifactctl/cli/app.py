"""The Typer application and the one mechanism that turns errors into exit codes.

Command modules (``artifactctl/cli/*.py``) register on ``app`` with the
``command`` decorator: any ArtifactctlError the command raises becomes one red
line and a hint on stderr plus its exit code; a DVC exception becomes exit 3;
anything unexpected is exit 3 with a one-line message, and a traceback only
with ``--debug``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from artifactctl import __version__
from artifactctl.errors import EXIT_ENVIRONMENT, ArtifactctlError

if TYPE_CHECKING:
    from artifactctl.cli.output import Output
    from artifactctl.project import Project

__all__ = ["JSON_HELP", "app", "command", "fail", "open_project"]

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="artifactctl",
    help="Safe pull, test/production routing, checksums and a model registry over DVC.",
    # Plain help: rich-formatted help costs ~160 ms of imports at every start.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JSON_HELP = "Write the result as JSON to stdout (messages go to stderr)."

_debug = {"on": bool(os.environ.get("ARTIFACTCTL_DEBUG"))}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"artifactctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """artifactctl: rules ML teams need around `dvc pull` and `dvc repro`."""
    if debug:
        _debug["on"] = True


def command(
    group: typer.Typer | None = None, name: str | None = None, **kwargs: Any
) -> Callable[[F], F]:
    """Register a command whose errors become one line and a documented exit code."""
    target = group or app

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kw: Any) -> Any:
            try:
                return func(*args, **kw)
            except (typer.Exit, typer.Abort, SystemExit):
                raise
            except ArtifactctlError as exc:
                fail(str(exc), exc.hint, exc.exit_code, exc)
            except KeyboardInterrupt:
                fail("interrupted", "", 130, None)
            except Exception as exc:  # DVC's own errors and anything unforeseen
                fail(*classify(exc), exc)

        target.command(name=name, **kwargs)(wrapper)
        return func

    return decorate


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


def fail(message: str, hint: str, code: int, exc: BaseException | None) -> None:
    """One red line and a hint on stderr (the traceback too with --debug), then exit."""
    from artifactctl.cli.output import Output  # the library and rich load only when used

    if _debug["on"] and exc is not None:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    Output().error(message, hint)
    raise typer.Exit(code)


def open_project(out: Output | None = None) -> Project:
    """Find the repository and finish any operation a crash interrupted.

    Recovery runs under the repository lock: if another artifactctl command
    holds it, its journal is live, not interrupted, and is left alone.
    """
    from artifactctl.cli.output import Output  # not needed by --help: loaded here
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
