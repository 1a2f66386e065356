"""The body of `artifactctl verify`, without Typer.

``artifactctl verify ...`` is the command people time: ``cli.main`` parses its
options here (``parse``) and runs it without importing Typer (a third of the
start-up). Anything this parser does not know, ``--help`` included, goes to
the Typer command, which runs the same ``run``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (7 ms at start-up)
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console

    from artifactctl.verify.report import VerifyReport

_FLAGS = {
    "--deep": ("deep", True),
    "--cache": ("cache", True),
    "--tests": ("tests", True),
    "--no-tests": ("tests", False),
    "--all": ("show_all", True),
    "--json": ("as_json", True),
}


def parse(argv: list[str]) -> dict[str, Any] | None:
    """Options of ``verify`` as ``run`` takes them, or None when Typer should parse them."""
    options: dict[str, Any] = {
        "paths": [],
        "deep": False,
        "cache": False,
        "tests": True,
        "show_all": False,
        "jobs": 0,
        "as_json": False,
    }
    args = iter(argv)
    for arg in args:
        if arg in _FLAGS:
            key, value = _FLAGS[arg]
            options[key] = value
        elif arg in ("--jobs", "-j") or arg.startswith(("--jobs=", "-j")):
            text = arg.partition("=")[2] if arg.startswith("--jobs=") else arg[2:]
            if arg in ("--jobs", "-j"):
                text = next(args, "")
            if not text.isdigit() or not text.isascii():
                return None  # Typer words the error
            options["jobs"] = int(text)
        elif arg == "--":
            options["paths"] += list(args)
        elif arg.startswith("-") and arg != "-":
            return None
        else:
            options["paths"].append(arg)
    return options


def main(argv: list[str]) -> int | None:
    """Run ``verify`` with these options and return its exit code (None: not parsed)."""
    options = parse(argv)
    if options is None:
        return None
    from artifactctl.cli.runtime import exit_code_of

    try:
        return run(**options)
    except BaseException as exc:  # the same one line and exit code as the Typer command
        if isinstance(exc, SystemExit):
            raise
        return exit_code_of(exc)


def run(
    paths: list[str],
    deep: bool,
    cache: bool,
    tests: bool,
    show_all: bool,
    jobs: int,
    as_json: bool,
) -> int:
    """Verify, print the result, and return the exit code (0 all ok, 1 problems)."""
    from artifactctl.cli.output import Output
    from artifactctl.cli.runtime import open_project
    from artifactctl.verify.check import verify

    out = Output(json_mode=as_json)
    project = open_project(out)
    with contextlib.ExitStack() as stack:
        # The bar is opened once verify knows the total bytes, and closed before the table.
        def start(total: int) -> Callable[[float], None] | None:
            return stack.enter_context(out.progress("verifying", total=total, bytes_=True))

        report = verify(
            project, paths or None, deep=deep, cache=cache, tests=tests, jobs=jobs, progress=start
        )
    # Building the JSON document for 20,000 files is not free: only when it is asked for.
    data = report.to_dict() if as_json else None
    if as_json or not _plain(report, show_all):
        out.result(data, lambda console: render(console, report, show_all))
    return 0 if report.ok else 1


def _plain(report: VerifyReport, show_all: bool) -> bool:
    """Print the summary of a clean report as plain text when stdout is not a terminal.

    The same two lines rich would print there, without importing rich (a tenth of
    a second, as much as hashing 5,000 small files). False: let rich draw it.
    """
    from artifactctl.cli.output import _maybe_terminal

    if show_all or report.notes or not report.ok or _maybe_terminal(sys.stdout):
        return False
    if report.flagged:
        return False
    sys.stdout.write("\n".join(summary(report, markup=False)) + "\n")
    sys.stdout.flush()
    return True


def summary(report: VerifyReport, markup: bool = True) -> list[str]:
    """The closing lines: counts, bytes, time and speed, then how files were checked."""
    from artifactctl.cli.output import human_size

    counts = report.counts
    parts = [f"{n} {state}" for state, n in counts.items() if n]
    seconds = report.seconds
    rate = report.bytes_hashed / max(seconds, 1e-9) / 1e6
    verdict = "all ok" if report.ok else f"{len(report.problems)} problem(s)"
    if markup:
        verdict = f"[{'green' if report.ok else 'red'}]{verdict}[/]"
    scope = ["DVC outputs"]
    if report.tests:
        scope.append("test and saved runs")
    if report.cache:
        scope.append("cache objects")
    method = f"{report.method}; checked {', '.join(scope)}"
    return [
        f"{report.total} files ({', '.join(parts) or 'none'}), "
        f"{human_size(report.bytes_checked)} checked, {human_size(report.bytes_hashed)} hashed "
        f"in {seconds:.2f} s ({rate:.0f} MB/s) - {verdict}",
        f"[dim]{method}[/dim]" if markup else method,
    ]


def render(console: Console, report: VerifyReport, show_all: bool = False) -> None:
    from artifactctl.cli.output import escape, human_size, table

    shown = report.files if show_all else report.flagged
    if shown:
        rows = [
            (
                f.path,
                f.state,
                f.kind.replace("_", " "),
                f.expected or "",
                (f.actual or "") if f.actual != f.expected else "",
                human_size(f.size),
                f.detail,
            )
            for f in shown
        ]
        console.print(
            table(
                "verify" if show_all else "problems",
                ["path", "state", "kind", "expected", "actual", "size", "detail"],
                rows,
                justify_right=("size",),
                no_wrap=("state",),
            )
        )
        console.print()
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    for line in summary(report):
        console.print(line)
