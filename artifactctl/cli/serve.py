"""`artifactctl serve` (the HTTP API and dashboard) and `artifactctl report` (the page as a file).

FastAPI and uvicorn are imported inside `serve` only: `--help` never loads them,
and without the ``serve`` extra the command says how to install it (exit 3).
"""

from __future__ import annotations

import typer

from artifactctl.cli.app import command, open_project


@command(name="serve")
def serve_command(
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on (default: this machine only; any other prints a warning).",
    ),
    port: int = typer.Option(
        8000, "--port", "-p", min=0, max=65535, help="Port (0: any free port; the URL is printed)."
    ),
    registry: str = typer.Option(
        None,
        "--registry",
        help="The registry (model family) a request reads when it names none with "
        "?registry=NAME (default: the repository's default registry; 'default' names it too).",
    ),
    token: str = typer.Option(
        None,
        "--token",
        envvar="ARTIFACTCTL_SERVE_TOKEN",
        show_envvar=True,
        help="Require `Authorization: Bearer TOKEN` on every request "
        "(prefer the environment variable: a command line is visible to other users).",
    ),
) -> None:
    """Serve the registry read-only over HTTP: a JSON API (OpenAPI at /docs) and a dashboard at /.

    Needs the extra: pip install "artifactctl[serve]".
    """
    from artifactctl.cli.output import Output
    from artifactctl.errors import EnvironmentProblem
    from artifactctl.serve import EXTRA_HINT

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise EnvironmentProblem(
            f"artifactctl serve needs FastAPI and uvicorn ({exc})", hint=EXTRA_HINT
        ) from None
    from artifactctl.serve.server import LOCAL_HOSTS, run

    out = Output()
    project = open_project(out)
    if registry is not None:
        from artifactctl.serve.registries import select

        select(project, registry)  # an unknown name: exit 2 before listening
    if host not in LOCAL_HOSTS:
        out.warn(
            f"listening on {host}: anyone who can reach this machine can read the registry"
            + ("" if token else "; set ARTIFACTCTL_SERVE_TOKEN (or --token) to require a token")
        )

    def ready(url: str) -> None:  # one line, never wrapped: scripts read the URL from it
        typer.echo(f"serving {project.root} at {url} (API docs: {url}docs); Ctrl-C stops", err=True)

    run(project.root, host, port, token or None, ready, registry)


@command(name="report")
def report_command(
    out_file: str = typer.Option(
        ..., "--out", "-o", metavar="FILE.html", help="Where to write the page."
    ),
    registry: str = typer.Option(
        None, "--registry", help="Which registry (model family) of [tool.artifactctl.registries]."
    ),
) -> None:
    """Write the dashboard as one static HTML file (no scripts, no external assets), e.g. for CI."""
    from pathlib import Path

    from artifactctl.cli.output import Output
    from artifactctl.fs.atomic import atomic_write_text
    from artifactctl.serve.dashboard import render

    out = Output()
    project = open_project(out).with_registry(registry)
    target = Path(out_file)
    atomic_write_text(target, render(project, static=True))
    out.info(f"wrote {target}")
