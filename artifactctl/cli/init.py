"""`artifactctl init`."""

from __future__ import annotations

import typer

from artifactctl.cli.app import JSON_HELP, command


@command(name="init")
def init_command(
    scaffold: bool = typer.Option(
        False,
        "--scaffold",
        help="Also create the reference tree (artifacts/models/baseline, ...) in a "
        "repository that already has DVC outputs.",
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Settings (detected from an existing pipeline), .gitignore rules, the tree (idempotent)."""
    from dataclasses import asdict

    from artifactctl.cli.output import Output
    from artifactctl.project import find_repo
    from artifactctl.scaffold import init

    out = Output(json_mode=as_json)
    report = init(find_repo(), scaffold=scaffold)

    def render(console) -> None:  # type: ignore[no-untyped-def]
        for rel in report.created:
            console.print(f"created {rel}/")
        if report.gitignore_updated:
            console.print("updated .gitignore (test runs and local backups)")
        if report.settings_added:
            added = ", ".join(report.settings_added)
            console.print(
                f"found {report.detected_outputs} DVC output(s); added settings: {added}",
                markup=False,
            )
        elif report.settings_written:
            console.print(
                "wrote default [tool.artifactctl] settings to pyproject.toml", markup=False
            )
        for note in report.notes:
            console.print(f"note: {note}", markup=False)
        if not report.changed:
            console.print("already initialised: nothing to do")

    out.result({**asdict(report), "changed": report.changed}, render, schema="artifactctl.init/1")
