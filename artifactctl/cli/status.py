"""`artifactctl status`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from artifactctl.cli.app import JSON_HELP, command, open_project

if TYPE_CHECKING:
    from rich.console import Console

    from artifactctl.status import StatusReport


@command(name="status")
def status_command(
    paths: list[str] = typer.Argument(None, help="Only these artifacts (files or folders)."),
    cloud: bool = typer.Option(
        False, "--cloud", "-c", help="Also check that the remote holds every object."
    ),
    remote: str = typer.Option(
        None, "--remote", "-r", help="Remote for --cloud (default: the default remote)."
    ),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Hashing threads (0: automatic)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Every DVC-tracked artifact and its state: ok, modified, missing, not in cache, not pushed."""
    from artifactctl.cli.output import Output
    from artifactctl.status import collect_status

    out = Output(json_mode=as_json)
    project = open_project(out)
    report = collect_status(project, paths or None, cloud=cloud, remote=remote, jobs=jobs)
    for warning in report.warnings:
        out.warn(warning)
    out.result(report.to_dict, lambda console: render(console, report))
    from artifactctl.cli.registry import warn_stale_champion

    warn_stale_champion(out, project)
    if not report.ok:
        raise typer.Exit(1)


def render(console: Console, report: StatusReport) -> None:
    from artifactctl.cli.output import human_size, table

    prefix = report.artifacts_root.rstrip("/") + "/"
    rows = [
        (
            a.path.removeprefix(prefix) + ("/" if a.is_dir else ""),
            a.kind,
            a.experiment or "",
            human_size(a.size),
            str(a.files),
            a.state,
            a.detail,
        )
        for a in report.artifacts
    ]
    console.print(
        table(
            f"{prefix}",
            ["path", "kind", "exp", "size", "files", "state", "detail"],
            rows,
            justify_right=("size", "files"),
            no_wrap=("state",),
        )
    )
    counts = report.counts
    parts = [f"{n} {state.replace('_', ' ')}" for state, n in counts.items() if n]
    verdict = "[green]all ok[/green]" if report.ok else "[red]needs attention[/red]"
    scope = f", checked against remote '{report.remote}'" if report.cloud else ""
    console.print(
        f"\n{len(report.artifacts)} artifacts: {', '.join(parts) or 'none'} - {verdict}{scope}"
    )
    if report.never_run:
        names = ", ".join(report.never_run[:5]) + ("..." if len(report.never_run) > 5 else "")
        console.print(
            f"[yellow]{len(report.never_run)} stage(s) never run[/yellow] ({names}): "
            "run `dvc repro`"
        )
