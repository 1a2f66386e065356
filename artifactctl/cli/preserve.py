"""`artifactctl preserve add|remove|list|backups|restore`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from artifactctl.cli.app import JSON_HELP, app, command, open_project

if TYPE_CHECKING:
    from rich.console import Console

    from artifactctl.backups import BackupListing
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


@command(group=preserve_app, name="backups")
def backups_command(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """The local copies pull kept (--force, --prefer-remote): path, original, when, size, md5."""
    from artifactctl.backups import list_backups
    from artifactctl.cli.output import Output

    out = Output(json_mode=as_json)
    listing = list_backups(open_project(out))
    out.result(listing.to_dict(), lambda console: render_backups(console, listing))


def render_backups(console: Console, listing: BackupListing) -> None:
    from artifactctl.cli.output import human_size, table

    if not listing.backups:
        console.print(f"no backups in {listing.folder}/")
        return
    rows = [
        (b.path, b.original, b.when, human_size(b.size), b.md5 or "unreadable")
        for b in listing.backups
    ]
    console.print(
        table(
            f"backups in {listing.folder}/",
            ["backup", "original path", "when", "size", "md5"],
            rows,
            justify_right=("size",),
            no_wrap=("backup", "original path", "md5"),
        )
    )
    console.print("put one back with `artifactctl preserve restore BACKUP-OR-ORIGINAL-PATH`")


@command(group=preserve_app, name="restore")
def restore_command(
    path: str = typer.Argument(
        ..., metavar="BACKUP-OR-PATH", help="A backup, or an original path (its newest backup)."
    ),
    force: bool = typer.Option(
        False, "--force", "-f", help="Overwrite a file changed since the pull (backed up first)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Put a backup made by pull back at its original path."""
    from artifactctl.backups import restore
    from artifactctl.cli.output import Output

    out = Output(json_mode=as_json)
    result = restore(open_project(out), path, force=force)

    def render(console: Console) -> None:
        if result.state == "unchanged":
            console.print(f"{result.original} already holds {result.backup}", markup=False)
            return
        if result.saved:
            console.print(f"kept the overwritten {result.original} as {result.saved}", markup=False)
        console.print(f"restored {result.original} from {result.backup}", markup=False)

    out.result(result.to_dict(), render, schema="artifactctl.restore/1")
