"""`artifactctl remote list|add|default`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from artifactctl.cli.app import JSON_HELP, app, command, open_project

if TYPE_CHECKING:
    from rich.console import Console

    from artifactctl.sync.remotes import RemoteListing

remote_app = typer.Typer(help="DVC remotes: list, add, choose the default.", no_args_is_help=True)
app.add_typer(remote_app, name="remote")


@command(group=remote_app, name="list")
def list_command(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Configured remotes; the default one is marked."""
    from artifactctl.cli.output import Output
    from artifactctl.sync.remotes import list_remotes

    out = Output(json_mode=as_json)
    listing = list_remotes(open_project(out))
    out.result(listing.to_dict(), lambda console: render(console, listing))


def render(console: Console, listing: RemoteListing) -> None:
    from artifactctl.cli.output import table

    if not listing.remotes:
        console.print("no remotes (add one: `artifactctl remote add NAME URL --default`)")
        return
    rows = [
        (r.name, "*" if r.default else "", r.kind, r.url, r.endpoint or "", r.credentials)
        for r in listing.remotes
    ]
    console.print(
        table("remotes", ["name", "default", "kind", "url", "endpoint", "credentials"], rows)
    )


@command(group=remote_app, name="add")
def add_command(
    name: str = typer.Argument(..., help="Remote name."),
    url: str = typer.Argument(..., help="A folder, or s3://bucket/prefix, or any DVC URL."),
    endpoint_url: str = typer.Option(
        None, "--endpoint-url", help="S3-compatible endpoint, e.g. http://127.0.0.1:9000."
    ),
    access_key_id: str = typer.Option(
        None, "--access-key-id", help="Written to .dvc/config.local, never the tracked config."
    ),
    secret_access_key: str = typer.Option(
        None, "--secret-access-key", help="Written to .dvc/config.local, never the tracked config."
    ),
    region: str = typer.Option(None, "--region", help="S3 region."),
    default: bool = typer.Option(False, "--default", "-d", help="Make it the default remote."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace an existing remote."),
) -> None:
    """Add a remote (credentials go to .dvc/config.local)."""
    from artifactctl.cli.output import Output
    from artifactctl.sync.remotes import add_remote

    info = add_remote(
        open_project(),
        name,
        url,
        endpoint_url=endpoint_url,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        region=region,
        default=default,
        force=force,
    )
    where = "; credentials in .dvc/config.local" if access_key_id else ""
    Output().info(f"added remote {info.name} -> {info.url}{' (default)' if default else ''}{where}")


@command(group=remote_app, name="default")
def default_command(
    name: str = typer.Argument(None, help="Remote to make the default (omit to print it)."),
) -> None:
    """Show or set the default remote."""
    from artifactctl.cli.output import Output
    from artifactctl.dvc.config import get_remote
    from artifactctl.sync.remotes import set_default

    project = open_project()
    if name is None:
        typer.echo(get_remote(project.root).name)
        return
    set_default(project, name)
    Output().info(f"default remote: {name}")
