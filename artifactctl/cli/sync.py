"""`artifactctl pull` and `artifactctl push`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from artifactctl.cli.app import JSON_HELP, command, open_project

if TYPE_CHECKING:
    from rich.console import Console

    from artifactctl.sync.pull import PullReport
    from artifactctl.sync.push import PushReport
    from artifactctl.sync.registry_objects import RegistryTransfer


def _progress(out: Any):  # type: ignore[no-untyped-def]
    def factory(description: str, total: float | None):  # type: ignore[no-untyped-def]
        return out.progress(description, total, bytes_=True)

    return factory


@command(name="pull")
def pull_command(
    targets: list[str] = typer.Argument(None, help="Only these outputs (default: everything)."),
    remote: str = typer.Option(None, "--remote", "-r", help="Remote to pull from (default one)."),
    prefer_remote: list[str] = typer.Option(
        None,
        "--prefer-remote",
        help="Take the remote's version of this preserved file; keep the local one under "
        ".artifactctl/backups/. Repeatable.",
    ),
    force: bool = typer.Option(
        False, "--force", "-f", help="Replace locally modified files (backed up first)."
    ),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Parallel transfers (0: DVC's)."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip re-hashing the pulled files."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Fetch and check out artifacts; preserved and locally edited files are kept."""
    from artifactctl.cli.output import Output
    from artifactctl.sync.pull import pull

    out = Output(json_mode=as_json)
    project = open_project(out)
    report = pull(
        project,
        targets or None,
        remote=remote,
        prefer_remote=prefer_remote or (),
        force=force,
        jobs=jobs,
        verify=not no_verify,
        progress=_progress(out),
    )
    for rel in report.restored:
        out.warn(f"{rel} was changed during checkout; restored the preserved copy")
    out.result(report.to_dict(), lambda console: render_pull(console, report))
    if not report.ok:
        raise typer.Exit(1)


LABELS = {
    "pulled": "pulled",
    "unchanged": "unchanged",
    "preserved": "preserved (local differs from remote, kept)",
    "backed_up": "backed up, then pulled",
    "modified": "locally modified, left alone",
    "extra": "not tracked, left alone",
    "failed": "failed verification",
}


def render_pull(console: Console, report: PullReport) -> None:
    from artifactctl.cli.output import table

    counts = report.counts
    rows = [(LABELS[s], str(n)) for s, n in counts.items() if n or s in ("pulled", "unchanged")]
    console.print(
        table(f"pull from '{report.remote}'", ["files", "count"], rows, justify_right=("count",))
    )
    notable = [f for f in report.files if f.state not in ("pulled", "unchanged")]
    if notable:
        detail = [(f.path, f.state, f.backup or "", f.detail) for f in notable[:200]]
        console.print()
        console.print(table(None, ["path", "state", "backup", "detail"], detail))
        if len(notable) > 200:
            console.print(f"... and {len(notable) - 200} more (see --json)")
    backed_up = [f for f in report.files if f.backup]
    for f in backed_up:
        console.print(f"kept the local copy of {f.path} as {f.backup}", markup=False)
    if backed_up:
        console.print(
            "backups stay outside DVC's folders: `artifactctl preserve backups` lists them, "
            "`artifactctl preserve restore PATH` puts one back"
        )
    verdict = "verified" if report.verified else "not verified (--no-verify)"
    if not report.ok:
        verdict = f"[red]{counts['failed']} file(s) failed verification[/red]"
    console.print(f"\n{report.fetched} object(s) downloaded; {verdict}")
    _render_registry(console, report.registry, "on the remote")
    if counts["modified"]:
        console.print(
            "locally modified files were left alone: `artifactctl pull --force` backs "
            "them up and takes the remote version"
        )


@command(name="push")
def push_command(
    targets: list[str] = typer.Argument(None, help="Only these outputs (default: everything)."),
    remote: str = typer.Option(None, "--remote", "-r", help="Remote to push to (default one)."),
    jobs: int = typer.Option(
        0,
        "--jobs",
        "-j",
        min=0,
        help="Parallel transfers (0: 4 threads a core, up to 16, to a local remote; 32 "
        "requests to S3; DVC's default to others).",
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Upload what DVC recorded; local edits of preserved files are not committed or pushed."""
    from artifactctl.cli.output import Output
    from artifactctl.sync.push import push

    out = Output(json_mode=as_json)
    project = open_project(out)
    report = push(project, targets or None, remote=remote, jobs=jobs, progress=_progress(out))
    out.result(report.to_dict(), lambda console: render_push(console, report))
    if not report.ok:
        raise typer.Exit(1)


def render_push(console: Console, report: PushReport) -> None:
    from artifactctl.cli.output import table

    doc = report.to_dict()
    rows = [
        ("outputs", str(report.outputs)),
        ("objects pushed", str(report.pushed)),
        ("already on the remote", str(doc["already_on_remote"])),
        ("preserved, local differs (not pushed)", str(len(report.held_back))),
        ("missing from the local cache", str(len(report.missing_from_cache))),
    ]
    if report.failed:
        rows.append(("not pushed (corrupted or unreadable)", str(len(report.failed))))
    if report.registry is not None:
        rows.append(("registry objects (champions, archive)", str(report.registry.objects)))
    console.print(
        table(f"push to '{report.remote}'", ["", "count"], rows, justify_right=("count",))
    )
    for rel in report.held_back:
        console.print(
            f"[blue]preserved[/blue] {rel}: the local copy differs from what DVC recorded; "
            "the recorded version was pushed, the local edit was not"
        )
    for rel in report.missing_from_cache[:20]:
        console.print(f"[red]missing from cache[/red] {rel}")
    from rich.markup import escape

    failed = [(f.path, f.reason) for f in report.failed]
    if report.registry is not None:  # the registry's objects are named by their md5
        failed += sorted(report.registry.failed.items())
    for path, reason in failed[:20]:
        console.print(f"[red]not pushed[/red] {escape(path)}: {escape(reason)}")
    if failed:
        more = f" ({len(failed) - 20} more in --json)" if len(failed) > 20 else ""
        console.print(
            f"[red]{len(failed)} not pushed[/red]{more}: a corrupted cache object is never "
            "sent; `artifactctl verify --cache` checks the cache"
        )
    _render_registry(console, report.registry, "in this clone")


def _render_registry(console: Console, registry: RegistryTransfer | None, where: str) -> None:
    if registry is None or not registry.missing:
        return
    console.print(
        f"[yellow]{len(registry.missing)} object(s) the registry refers to (champions, "
        f"archived experiments) are not {where}[/yellow]: {', '.join(registry.missing[:5])}; "
        "push them from the clone that promoted or archived them"
    )
