"""`artifactctl verify` (the body is ``verify_main.run``, shared with the fast path)."""

from __future__ import annotations

import typer

from artifactctl.cli.app import JSON_HELP, command
from artifactctl.cli.verify_main import render, run, summary

__all__ = ["render", "summary", "verify_command"]


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
    jobs: int = typer.Option(
        0,
        "--jobs",
        "-j",
        min=0,
        help="Hashing threads, and processes for many small files (0: automatic).",
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Re-hash artifacts against dvc.lock, .dvc files and run manifests; name every bad file."""
    code = run(paths or [], deep, cache, tests, show_all, jobs, as_json)
    if code:
        raise typer.Exit(code)
