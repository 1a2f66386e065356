"""`artifactctl verify`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from artifactctl.cli.app import JSON_HELP, command, open_project

if TYPE_CHECKING:
    from rich.console import Console

    from artifactctl.verify.report import VerifyReport


@command(name="verify")
def verify_command(
    paths: list[str] = typer.Argument(
        None, help="Only these artifacts or runs (files or folders)."
    ),
    deep: bool = typer.Option(
        False, "--deep", help="Re-hash every file, even those unchanged since the last check."
    ),
    cache: bool = typer.Option(
        False, "--cache", help="Also re-hash the local DVC cache objects the workspace uses."
    ),
    tests: bool = typer.Option(
        True, "--tests/--no-tests", help="Also verify test runs and saved runs (default: yes)."
    ),
    show_all: bool = typer.Option(False, "--all", help="List every file, not only problems."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Hashing threads (0: automatic)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Re-hash artifacts against dvc.lock, .dvc files and run manifests; name every bad file."""
    from artifactctl.cli.output import Output
    from artifactctl.verify.check import verify

    out = Output(json_mode=as_json)
    project = open_project(out)
    with contextlib.ExitStack() as stack:
        # The bar is opened once verify knows the total bytes, and closed before the table.
        def start(total: int) -> Callable[[float], None]:
            return stack.enter_context(out.progress("verifying", total=total, bytes_=True))

        report = verify(
            project, paths or None, deep=deep, cache=cache, tests=tests, jobs=jobs, progress=start
        )
    for warning in report.warnings:
        out.warn(warning)
    out.result(
        report.to_dict,
        lambda console: render(console, report, show_all),
        text=lambda: plain(report, show_all),
    )
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def plain(report: VerifyReport, show_all: bool) -> str | None:
    """A clean report as plain text, or None when it needs a table or notes.

    Saves importing rich (which costs as much as the rest of a re-check of
    20,000 unchanged files) when the output goes to a pipe or a file.
    """
    if show_all or report.notes or report.flagged:
        return None
    return "\n".join(summary(report, markup=False)) + "\n"


def summary(report: VerifyReport, markup: bool = True) -> list[str]:
    """The closing lines: counts, bytes, time and speed, then how files were checked."""
    from artifactctl.cli.output import human_size

    parts = [f"{n} {state}" for state, n in report.counts.items() if n]
    seconds = report.seconds
    rate = report.bytes_hashed / max(seconds, 1e-9) / 1e6
    verdict = "all ok" if report.ok else f"{len(report.problems)} problem(s)"
    if report.warnings and not report.problems:
        verdict = "NOT ok: see the warning"
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
                digests=("expected", "actual"),
            )
        )
        console.print()
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    for line in summary(report):
        console.print(line)
