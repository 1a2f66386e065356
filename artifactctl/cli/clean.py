"""`artifactctl clean` (old test runs, or the DVC cache with --cache) and `artifactctl keep`."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import typer

from artifactctl.cli.app import JSON_HELP, command, open_project

if TYPE_CHECKING:
    from rich.console import Console

    from artifactctl.clean.cache import CacheReport
    from artifactctl.clean.plan import CleanPlan
    from artifactctl.cli.output import Output
    from artifactctl.project import Project


@command(name="clean")
def clean_command(
    keep: int = typer.Option(
        None,
        "--keep",
        min=0,
        metavar="N",
        help="Keep the N newest runs (default: retention.keep_recent).",
    ),
    older_than: float = typer.Option(
        None,
        "--older-than",
        metavar="DAYS",
        help="Remove runs older than DAYS (default: retention.max_age_days).",
    ),
    name: str = typer.Option(
        None, "--name", metavar="GLOB", help="Only consider runs whose name matches this glob."
    ),
    force: bool = typer.Option(
        False, "--force", help="Remove for real (without it: a dry run listing the same)."
    ),
    cache: bool = typer.Option(
        False,
        "--cache",
        help="Collect unused DVC cache objects instead of test runs (never touches a remote).",
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Remove old test runs under artifacts/tests/ by retention rules; a dry run unless --force."""
    from artifactctl.cli.output import Output
    from artifactctl.errors import UsageError

    out = Output(json_mode=as_json)
    project = open_project(out)
    if cache:
        if keep is not None or older_than is not None or name is not None:
            raise UsageError("--cache cannot be combined with --keep, --older-than or --name")
        _clean_cache(project, out, force)
        return

    from artifactctl.clean.apply import clean_runs

    plan = clean_runs(project, keep, older_than, name, force=force)
    for message in plan.warnings:
        out.warn(message)
    out.result(plan.to_dict, lambda console: render(console, plan), lambda: render_text(plan))
    if plan.failures:
        for failure in plan.failures:
            out.warn(f"could not remove {failure}")
        raise typer.Exit(3)


# rich lays a table out at ~3 ms a row: longer listings are written as plain text
TABLE_ROWS = 100
COLUMNS = ("run", "created", "age", "size", "reason")
RIGHT_ALIGNED = ("age", "size")


def plain_table(rows: list[tuple[str, ...]]) -> str:
    """The listing's columns aligned as plain text."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    lines = []
    for row in (COLUMNS, *rows):
        cells = [
            cell.rjust(width) if column in RIGHT_ALIGNED else cell.ljust(width)
            for column, cell, width in zip(COLUMNS, row, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip() + "\n")
    return "".join(lines)


def _rows(plan: CleanPlan) -> list[tuple[str, ...]]:
    from artifactctl.cli.output import human_size

    return [
        (d.name, d.created, f"{d.age_days:.1f} d", human_size(d.size), d.reason)
        for d in plan.remove
    ]


def _title(plan: CleanPlan) -> str:
    return f"{plan.tests_root}/: {'removed' if plan.applied else 'would remove (dry run)'}"


def render_text(plan: CleanPlan) -> str | None:
    """The whole listing as plain text, or None when it is short enough for a rich table."""
    if 0 < len(plan.remove) <= TABLE_ROWS:
        return None
    head = f"{_title(plan)}\n{plain_table(_rows(plan))}" if plan.remove else ""
    return head + "".join(f"{line}\n" for line in _summary(plan))


def render(console: Console, plan: CleanPlan) -> None:
    from artifactctl.cli.output import table

    console.print(
        table(_title(plan), COLUMNS, _rows(plan), justify_right=RIGHT_ALIGNED, no_wrap=("run",))
    )
    for line in _summary(plan):
        console.print(line, markup=False)


def _summary(plan: CleanPlan) -> list[str]:
    from artifactctl.cli.output import human_size

    verb = "removed" if plan.applied else "to remove"
    lines = [
        f"\n{plan.total_runs} test runs: {len(plan.keep)} kept, {len(plan.remove)} {verb}, "
        f"{human_size(plan.bytes_reclaimed)} {'reclaimed' if plan.applied else 'reclaimable'}"
        + (f", {len(plan.skipped)} skipped" if plan.skipped else "")
    ]
    if not plan.applied and plan.remove:
        lines.append("dry run: nothing was removed; run `artifactctl clean --force` to remove")
    if plan.leftover_trash and not plan.applied:
        lines.append(
            f"{plan.leftover_trash} leftover(s) of an interrupted clean: "
            "`clean --force` removes them"
        )
    return lines


def _clean_cache(project: Project, out: Output, force: bool) -> None:
    from artifactctl.clean.cache import collect_cache

    report = collect_cache(project, force=force)
    for message in report.warnings:
        out.warn(message)
    out.result(report.to_dict(), lambda console: render_cache(console, report))
    if report.failures:
        raise typer.Exit(3)


def render_cache(console: Console, report: CacheReport) -> None:
    from artifactctl.cli.output import human_size

    verb = "removed" if report.applied else "reclaimable (dry run)"
    console.print(
        f"DVC cache {report.cache_dir}: {report.objects} objects, {report.used} in use "
        f"(workspace + {len(report.commits)} git commit(s) of {report.refs} ref(s)), "
        f"{report.protected} more kept for preserved/production/archive files"
    )
    console.print(
        f"{len(report.unused)} unused object(s), {human_size(report.bytes_unused)} {verb}"
    )
    if not report.applied and report.unused:
        console.print(
            "dry run: nothing was removed; run `artifactctl clean --cache --force` to remove"
        )


@command(name="keep")
def keep_command(
    names: list[str] = typer.Argument(..., help="Test run names (folders under artifacts/tests/)."),
    undo: bool = typer.Option(
        False, "--undo", help="Remove the keep mark, so retention rules apply again."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Mark test runs kept: `clean` never removes them (undo with --undo)."""
    from artifactctl.clean.keep import keep_runs
    from artifactctl.cli.output import Output

    out = Output(json_mode=as_json)
    project = open_project(out)
    results = keep_runs(project, names, kept=not undo)

    def render(console: Console) -> None:
        for r in results:
            state = "kept" if r.kept else "no longer kept"
            console.print(f"{r.path}: {state}" + ("" if r.changed else " (unchanged)"))

    out.result({"runs": [asdict(r) for r in results]}, render, schema="artifactctl.keep/1")
