"""Registry commands: new, list, show, promote, rollback, archive, unarchive, where, history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from artifactctl.cli.app import JSON_HELP, command, open_project

if TYPE_CHECKING:
    from rich.console import Console

    from artifactctl.cli.output import Output
    from artifactctl.project import Project
    from artifactctl.registry.promote import PromoteResult
    from artifactctl.registry.queries import ExperimentDetail, ExperimentInfo
    from artifactctl.registry.stale import StaleCopy

KEY_METRICS = ("rmse", "mae", "r2")
REGISTRY_HELP = "Which registry (model family) of [tool.artifactctl.registries]."


def _registry_option() -> Any:
    return typer.Option(None, "--registry", help=REGISTRY_HELP)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


@command(name="new")
def new_command(
    source: str = typer.Option(
        None, "--from", metavar="ID", help="Copy this experiment's params.yaml entry."
    ),
    model: str = typer.Option(
        None, "--model", help="The model kind (what it means is the pipeline's business)."
    ),
    phase: str = typer.Option(
        None,
        "--phase",
        "-p",
        help="baseline, candidates or a phase in use (default: --from's, else candidates).",
    ),
    sets: list[str] = typer.Option(
        None, "--set", "-S", help="A hyper-parameter as key=value (repeatable)."
    ),
    desc: str = typer.Option("", "--desc", help="A one-line description."),
    registry: str = _registry_option(),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Allocate the next experiment ID and add it to params.yaml (then `dvc repro` builds it)."""
    from artifactctl.cli.output import Output
    from artifactctl.registry.new import new_experiment

    out = Output(json_mode=as_json)
    project = open_project(out).with_registry(registry)
    result = new_experiment(project, model, phase, sets or [], desc, source=source)
    out.result(
        {"id": result.id, "phase": result.phase, "model": result.model, "params": result.params},
        lambda c: c.print(
            f"added experiment [bold]{result.id}[/bold]{_kind(result.model, result.phase)} "
            f"to params.yaml; build it with `dvc repro`"
        ),
        schema="artifactctl.new/1",
    )


def _kind(*words: str) -> str:
    said = ", ".join(w for w in words if w)
    return f" ({said})" if said else ""


@command(name="list")
def list_command(
    phase: str = typer.Option(None, "--phase", "-p", help="Only this phase."),
    sort: str = typer.Option(None, "--sort", help="Sort by this metric (best first)."),
    registry: str = _registry_option(),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Every experiment: phase, model, key metrics, state and champion markers."""
    from dataclasses import asdict

    from artifactctl.cli.output import Output
    from artifactctl.registry.queries import list_experiments

    out = Output(json_mode=as_json)
    project = open_project(out).with_registry(registry)
    rows = list_experiments(project, phase, sort)
    warn_stale_champion(out, project)
    data = {"experiments": [{k: v for k, v in asdict(r).items() if k != "params"} for r in rows]}
    out.result(data, lambda c: _render_list(c, rows), schema="artifactctl.list/1")


def _render_list(console: Console, rows: list[ExperimentInfo]) -> None:
    from artifactctl.cli.output import table

    marks = {"champion": "* champion", "previous": "previous"}
    console.print(
        table(
            None,
            ["ID", "phase", "model", *KEY_METRICS, "state", "role", "desc"],
            [
                (
                    r.id,
                    r.phase,
                    r.model,
                    *(_fmt(r.metrics.get(m)) for m in KEY_METRICS),
                    r.state,
                    marks.get(r.role, ""),
                    r.desc,
                )
                for r in rows
            ],
            justify_right=KEY_METRICS,
            no_wrap=("ID",),
        )
    )


@command(name="show")
def show_command(
    exp_id: str = typer.Argument(..., metavar="ID", help="The experiment ID."),
    registry: str = _registry_option(),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """An experiment's params, metrics, files with hash state, promotion tests and events."""
    from artifactctl.cli.output import Output
    from artifactctl.registry.queries import show_experiment

    out = Output(json_mode=as_json)
    project = open_project(out).with_registry(registry)
    detail = show_experiment(project, exp_id)
    out.result(detail.to_dict(), lambda c: _render_show(c, detail), schema="artifactctl.show/1")


def _render_show(console: Console, d: ExperimentDetail) -> None:
    from artifactctl.cli.output import human_size, table

    i = d.info
    role = f", {i.role}" if i.role else ""
    said = ", ".join(v for v in (i.model, i.phase, f"{i.state}{role}") if v)
    console.print(f"[bold]{i.id}[/bold]  {said}  {i.desc}")
    params = {k: v for k, v in i.params.items() if k not in ("phase", "model", "desc")}
    console.print("params: " + (", ".join(f"{k}={v}" for k, v in params.items()) or "-"))
    console.print("metrics: " + (", ".join(f"{k}={_fmt(v)}" for k, v in i.metrics.items()) or "-"))
    if d.files:
        rows = [
            (f["path"], human_size(f.get("size")), f["state"], f.get("detail", "")) for f in d.files
        ]
        console.print(
            table("files", ["path", "size", "state", "detail"], rows, justify_right=("size",))
        )
    if d.promotion_tests:
        rows = [
            (
                t["candidate"],
                t["baseline"],
                _fmt(t["p_value"]),
                str(t["passed"]),
                str(t["promoted"]),
                t["timestamp"],
            )
            for t in d.promotion_tests
        ]
        console.print(
            table(
                "promotion tests",
                ["candidate", "baseline", "p", "passed", "promoted", "when"],
                rows,
            )
        )
    if d.events:
        console.print(_events_table("ledger events", d.events))


@command(name="promote")
def promote_command(
    exp_id: str = typer.Argument(..., metavar="ID", help="The candidate experiment ID."),
    against: str = typer.Option(
        None, "--against", help="Compare with this experiment (default: champion, else baseline)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Run the gates; change nothing."),
    force: bool = typer.Option(
        False, "--force", help="Promote even if gates fail (needs --reason)."
    ),
    reason: str = typer.Option(None, "--reason", help="Why (required with --force; recorded)."),
    registry: str = _registry_option(),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Promote a candidate to champion if a paired bootstrap says it beats the baseline.

    Exit 0 promoted (or --dry-run passed), 1 a gate failed, 2 refused.
    """
    from artifactctl.cli.output import Output
    from artifactctl.registry.promote import promote

    out = Output(json_mode=as_json)
    project = open_project(out).with_registry(registry)
    result = promote(project, exp_id, against=against, force=force, reason=reason, dry_run=dry_run)
    out.result(
        result.to_dict(), lambda c: _render_promote(c, result), schema="artifactctl.promote/1"
    )
    if not result.passed and not result.promoted:
        raise typer.Exit(1)


def _render_promote(console: Console, r: PromoteResult) -> None:
    from artifactctl.cli.output import table

    t = r.test
    rows = [
        (
            g["name"],
            _fmt(g["value"]),
            f"{g['op']} {_fmt(g['threshold'])}",
            "pass" if g["passed"] else "FAIL",
            g.get("detail", ""),
        )
        for g in t["gates"]
    ]
    title = (
        f"{r.candidate} vs {r.baseline} ({r.baseline_role}): {t['metric']} "
        f"{_fmt(t['candidate_value'])} vs {_fmt(t['baseline_value'])}, improvement "
        f"{_fmt(t['improvement'])} ({int(t['ci']['level'] * 100)}% CI {_fmt(t['ci']['low'])}"
        f"..{_fmt(t['ci']['high'])}), {t['resamples']} paired resamples of {t['n_rows']} rows"
    )
    if t.get("units") and t["units"] < t["n_rows"]:
        title += f" (in {t['units']:,} random buckets)"
    console.print(table(title, ["gate", "value", "threshold", "result", "detail"], rows))
    if r.dry_run:
        verdict = "would be promoted" if r.passed else "would NOT be promoted"
        console.print(f"dry run: {r.candidate} {verdict}; nothing changed")
    elif r.promoted:
        how = "[yellow]FORCED[/yellow] despite failed gates" if r.forced else "gates passed"
        prev = f"; previous champion: {r.previous}" if r.previous else ""
        console.print(f"[green]promoted[/green] {r.candidate} to champion ({how}){prev}")
        console.print(f"promotion test: {r.test_path}")
    else:
        console.print(f"[red]not promoted[/red]: gates failed; promotion test: {r.test_path}")


@command(name="rollback")
def rollback_command(
    reason: str = typer.Option(None, "--reason", help="Why (recorded in the ledger)."),
    registry: str = _registry_option(),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Make the previous champion current again (each rollback walks one step back)."""
    from artifactctl.cli.output import Output
    from artifactctl.registry.promote import rollback

    out = Output(json_mode=as_json)
    project = open_project(out).with_registry(registry)
    result = rollback(project, reason)
    prev = f"; previous champion now {result.previous}" if result.previous else ""
    out.result(
        result.to_dict(),
        lambda c: c.print(f"rolled back: champion {result.from_id} -> {result.to_id}{prev}"),
        schema="artifactctl.rollback/1",
    )


@command(name="archive")
def archive_command(
    exp_id: str = typer.Argument(..., metavar="ID", help="The experiment ID."),
    reason: str = typer.Option(..., "--reason", help="Why (written to archive/MANIFEST.md)."),
    registry: str = _registry_option(),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Move an experiment's folders to artifacts/archive/ and drop it from params.yaml."""
    from artifactctl.cli.output import Output
    from artifactctl.registry.archive import archive

    out = Output(json_mode=as_json)
    project = open_project(out).with_registry(registry)
    result = archive(project, exp_id, reason)
    out.result(result.to_dict(), lambda c: _render_moves(c, result), schema="artifactctl.archive/1")


@command(name="unarchive")
def unarchive_command(
    exp_id: str = typer.Argument(..., metavar="ID", help="The archived experiment ID."),
    registry: str = _registry_option(),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Bring an archived experiment back (folders, params.yaml entry, dvc.lock entries)."""
    from artifactctl.cli.output import Output
    from artifactctl.registry.archive import unarchive

    out = Output(json_mode=as_json)
    project = open_project(out).with_registry(registry)
    result = unarchive(project, exp_id)
    out.result(
        result.to_dict(), lambda c: _render_moves(c, result), schema="artifactctl.unarchive/1"
    )


def _render_moves(console: Console, result: Any) -> None:
    console.print(f"{result.action} {result.id}:")
    for src, dst in result.moved.items():
        console.print(f"  {src} -> {dst}", markup=False)


@command(name="where")
def where_command(
    what: str = typer.Argument(..., metavar="champion|previous|ID", help="What to locate."),
    registry: str = _registry_option(),
) -> None:
    """Print one path: the champion copy, the previous champion copy, or an ID's model folder."""
    from artifactctl.cli.output import Output

    out = Output()
    project = open_project(out).with_registry(registry)
    from artifactctl.registry.queries import where

    stale = warn_stale_champion(out, project, only=what, hint=False)
    path = where(project, what)
    for copy in stale:
        out.info(f"rebuilt {copy.folder}/ from the ledger ({copy.expected})")
    typer.echo(str(path))


def warn_stale_champion(
    out: Output, project: Project, only: str | None = None, hint: bool = True
) -> list[StaleCopy]:
    """A warning line (and hint) on stderr for each champion copy the ledger disagrees with."""
    if only not in (None, "champion", "previous"):
        return []
    from artifactctl.errors import ArtifactctlError
    from artifactctl.registry.stale import stale_copies

    try:
        found = [s for s in stale_copies(project) if only in (None, s.which)]
    except ArtifactctlError:
        return []  # a bad ledger is the command's own error to report, or none of status's
    for stale in found:
        out.warn(stale.message)
        if hint:
            out.info(f"hint: {stale.hint}")
    return found


@command(name="history")
def history_command(
    registry: str = _registry_option(),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The ledger: every ID allocation, promotion, rollback, forced action and archive."""
    from artifactctl.cli.output import Output
    from artifactctl.registry.queries import history

    out = Output(json_mode=as_json)
    project = open_project(out).with_registry(registry)
    events = history(project)
    out.result(
        {"events": events},
        lambda c: c.print(_events_table(None, events)),
        schema="artifactctl.history/1",
    )


def _events_table(title: str | None, events: list[dict[str, Any]]) -> Any:
    from artifactctl.cli.output import table

    rows = []
    for e in events:
        kind = e["event"] + (" (forced)" if e.get("forced") else "")
        if e["event"] == "promote":
            move = f"{e.get('replaced') or '-'} -> {e['id']}"
        elif e["event"] == "rollback":
            move = f"{e.get('from')} -> {e.get('to')}"
        else:
            move = e.get("id", "")
        rows.append(
            (
                e.get("time", ""),
                kind,
                move,
                e.get("user", ""),
                e.get("gates", ""),
                e.get("reason") or "",
            )
        )
    return table(title, ["when", "event", "from -> to", "who", "gates", "reason"], rows)
