"""The Typer application and the one mechanism that turns errors into exit codes.

Command modules (``artifactctl/commands/*.py``) register on ``app`` with the
``command`` decorator: it opens nothing by itself, but any ArtifactctlError the
command raises becomes one red line and a hint on stderr plus its exit code; a
DVC exception becomes exit 3; anything unexpected is exit 3 with a one-line
message, and a traceback only with ``--debug``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from artifactctl import __version__
from artifactctl.cli.runtime import _debug, classify, open_project, report_failure
from artifactctl.errors import ArtifactctlError

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


def fail(message: str, hint: str, code: int, exc: BaseException | None) -> None:
    report_failure(message, hint, exc)
    raise typer.Exit(code)
