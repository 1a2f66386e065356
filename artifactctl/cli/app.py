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
from typer.core import TyperGroup  # Typer's documented base for `Typer(cls=...)`

from artifactctl import __version__
from artifactctl.errors import EXIT_ENVIRONMENT, ArtifactctlError

if TYPE_CHECKING:
    from artifactctl.cli.output import Output
    from artifactctl.project import Project

__all__ = ["JSON_HELP", "app", "command", "debugging", "fail", "open_project"]

F = TypeVar("F", bound=Callable[..., Any])


class _Group(TyperGroup):
    """The root command: usage errors become one line and a hint, like every other error.

    ``--debug`` is taken out of the arguments wherever it stands (before or after
    the command), so the hint "run with --debug" works as written.
    """

    def main(self, args: Any = None, *pos: Any, standalone_mode: bool = True, **kw: Any) -> Any:
        if os.environ.get(COMPLETE_VAR):
            # a shell asks for completions: only then load Typer's completion classes
            from typer.completion import completion_init

            completion_init()
        args = list(sys.argv[1:] if args is None else args)
        _debug["on"] = "--debug" in args[: _end_of_options(args)]
        if _debug["on"]:
            args.remove("--debug")
        try:
            code = super().main(args, *pos, standalone_mode=False, **kw)
        except typer.TyperException as exc:  # click's usage errors (Typer vendors click)
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()  # type: ignore[attr-defined]
                code = exc.exit_code
            else:
                _usage_error(exc, "--json" in args)
                code = exc.exit_code
        except typer.Abort:
            _print_error("aborted", "")
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


COMPLETE_VAR = "_ARTIFACTCTL_COMPLETE"  # Typer's name for `artifactctl`'s completion requests


def _end_of_options(args: list[str]) -> int:
    return args.index("--") if "--" in args else len(args)


def _usage_error(exc: typer.TyperException, as_json: bool) -> None:
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "artifactctl"
    message = " ".join(exc.format_message().split())
    hint = f"see `{path} --help`"
    if as_json:
        error_json(message, hint, exc.exit_code)
    _print_error(message, hint)


app = typer.Typer(
    cls=_Group,
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

# --debug (anywhere on the command line) or ARTIFACTCTL_DEBUG=1/true/yes/on: tracebacks
_debug = {"on": False}


def debugging() -> bool:
    env = os.environ.get("ARTIFACTCTL_DEBUG", "").strip().lower()
    return _debug["on"] or env in ("1", "true", "yes", "on")


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
        label = " ".join(filter(None, [_group_name(group), name or func.__name__]))

        @functools.wraps(func)
        def wrapper(*args: Any, **kw: Any) -> Any:
            as_json = bool(kw.get("as_json"))
            try:
                return func(*args, **kw)
            except (typer.Exit, typer.Abort, SystemExit):
                raise
            except ArtifactctlError as exc:
                hint = exc.hint or fallback_hint(label, exc.exit_code)
                fail(str(exc), hint, exc.exit_code, exc, as_json=as_json)
            except KeyboardInterrupt:
                fail("interrupted", "run the command again", 130, None, as_json=as_json)
            except Exception as exc:  # DVC's own errors and anything unforeseen
                fail(*classify(exc, label), exc, as_json=as_json)

        target.command(name=name, **kwargs)(wrapper)
        return func

    return decorate


def _group_name(group: typer.Typer | None) -> str:
    """The name a sub-app (``preserve``, ``remote``) is registered under."""
    if group is None:
        return ""
    for info in app.registered_groups:
        if info.typer_instance is group:
            return info.name or ""
    return group.info.name or ""


def fallback_hint(label: str, code: int) -> str:
    """A hint for an error raised without one: where to read what the command expects."""
    if code == EXIT_ENVIRONMENT:
        return f"run `artifactctl {label} --debug` for the full traceback"
    return f"see `artifactctl {label} --help`"


def classify(exc: Exception, label: str = "COMMAND") -> tuple[str, str, int]:
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
        f"run `artifactctl {label} --debug` for the traceback and report it",
        EXIT_ENVIRONMENT,
    )


def fail(
    message: str, hint: str, code: int, exc: BaseException | None, *, as_json: bool = False
) -> None:
    """One red line and a hint on stderr (the traceback too with --debug), then exit.

    Under ``--json`` the error is also a JSON document on stdout, so a script
    reading stdout always gets one document.
    """
    if debugging() and exc is not None:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    if as_json:
        error_json(message, hint, code)
    _print_error(message, hint)
    raise typer.Exit(code)


ERROR_SCHEMA = "artifactctl.error/1"


def error_json(message: str, hint: str, code: int) -> None:
    import json

    doc = {"schema": ERROR_SCHEMA, "error": message, "hint": hint, "exit_code": code}
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _print_error(message: str, hint: str) -> None:
    from artifactctl.cli.output import Output  # rich loads only when an error is shown

    Output().error(message, hint)


def open_project(out: Output | None = None) -> Project:
    """Find the repository and finish any operation a crash interrupted.

    Recovery runs under the repository lock: if another artifactctl command
    holds it, its journal is live, not interrupted, and is left alone.
    """
    from artifactctl.cli.output import Output  # not needed by --help: loaded here
    from artifactctl.project import find_repo

    project = find_repo()
    sink = out or Output()
    project.on_recover = lambda message: sink.warn(f"recovered an interrupted operation: {message}")
    project.recover_interrupted()
    return project
