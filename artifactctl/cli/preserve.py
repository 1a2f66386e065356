"""`artifactctl preserve add|remove|list`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from artifactctl.cli.app import JSON_HELP, app, command, open_project

if TYPE_CHECKING:
    from rich.console import Console

    from artifactctl.sync.preserve import PreserveListing

preserve_app = typer.Typer(
    help="Preserve rules: files whose local copy pull never replaces.", no_args_is_help=True
)
app.add_typer(preserve_app, name="preserve")


@command(group=preserve_app, name="add")
def add_command(
    path: str = typer.Argument(..., help="Path or glob, relative to the current folder."),
) -> None:
    """Add a preserve rule to [tool.artifactctl] in pyproject.toml."""
    from artifactctl.cli.output import Output
    from artifactctl.sync.preserve import add_rule

    change = add_rule(open_project(), path)
    verb = "added" if change.changed else "already preserved:"
    Output().info(f"{verb} {change.rule}")


@command(group=preserve_app, name="remove")
def remove_command(
    path: str = typer.Argument(..., help="A rule exactly as `preserve list` shows it."),
) -> None:
    """Remove a preserve rule from pyproject.toml."""
    from artifactctl.cli.output import Output
    from artifactctl.sync.preserve import remove_rule

    change = remove_rule(open_project(), path)
    Output().info(f"removed {change.rule}")


@command(group=preserve_app, name="list")
def list_command(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Each rule, the files it covers, and whether the local copy differs from DVC's record."""
    from artifactctl.cli.output import Output
    from artifactctl.sync.preserve import list_rules

    out = Output(json_mode=as_json)
    listing = list_rules(open_project(out))
    out.result(listing.to_dict(), lambda console: render(console, listing))


def render(console: Console, listing: PreserveListing) -> None:
    from artifactctl.cli.output import table

    if not listing.rules:
        console.print("no preserve rules (add one: `artifactctl preserve add PATH`)")
        return
    rows = []
    for rule in listing.rules:
        if not rule.files:
            rows.append((rule.rule, "", "", "no file matches"))
        for f in rule.files:
            differs = {"modified": "yes", "ok": "no"}.get(f.state, "")
            rows.append((rule.rule, f.path, f.tracked_by, f.state, differs))
    rows = [r if len(r) == 5 else (*r[:3], "", r[3]) for r in rows]
    console.print(
        table(
            "preserve rules",
            ["rule", "file", "tracked by", "state", "differs from DVC"],
            rows,
            paths=("file",),
        )
    )
