"""`artifactctl run`, `artifactctl refresh` and `artifactctl show-run`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from artifactctl.cli.app import JSON_HELP, command, fail, open_project

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from artifactctl.cli.output import Output
    from artifactctl.project import Project
    from artifactctl.runs.report import Progress, RunReport, StageResult
    from artifactctl.runs.saved import RunInfo


def _exp_option() -> Any:
    return typer.Option(
        None,
        "--exp",
        "-e",
        metavar="ID",
        help="Only this experiment's stages (and what they need); repeatable.",
    )


@command(name="run")
def run_command(
    mode: str = typer.Option(
        None,
        "--mode",
        "-m",
        metavar="MODE",
        help="test (outputs under artifacts/tests/NAME/) or production (dvc repro). "
        "Default: ARTIFACTCTL_MODE, else the default_mode setting.",
    ),
    name: str = typer.Option(
        None,
        "--name",
        "-n",
        metavar="NAME",
        help="Test run name (default: test_YYYYmmdd_HHMMSS_<hex>).",
    ),
    exp: list[str] = _exp_option(),
    set_: list[str] = typer.Option(
        None,
        "--set",
        "-S",
        metavar="KEY=VALUE",
        help="Override a parameter for this test run only: key.sub=value.",
    ),
    force: bool = typer.Option(
        False, "--force", help="Production: replace registered experiments' artifacts (logged)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Run the pipeline: a disposable test run, or production `dvc repro` under the policy."""
    import os
    import shlex

    from artifactctl import layout
    from artifactctl.cli.output import Output
    from artifactctl.config import Mode
    from artifactctl.errors import UsageError

    out = Output(json_mode=as_json)
    project = open_project(out)
    chosen = layout.validate_mode(
        mode or os.environ.get(layout.ENV_MODE) or project.settings.default_mode
    )
    if chosen == Mode.PRODUCTION:
        if name:
            raise UsageError(
                "--name is for test runs; production writes the canonical paths",
                hint="drop --name for production, or run "
                f"`artifactctl run --mode test --name {shlex.quote(name)}` for a test run",
            )
        if set_:
            raise UsageError(
                "-S is for test runs only",
                hint="production runs what params.yaml says: edit it (or `dvc exp run -S`)",
            )
    else:
        if name is not None:
            layout.validate_name(name, "test name")
        if force:
            out.warn("--force has no effect in test mode: test runs always overwrite")
    for item in exp or []:
        layout.validate_name(item, "experiment ID")
    argv = ["run", "--mode", chosen.value, *(["--name", name] if name else [])]
    argv += _repeat("--exp", exp) + _repeat("-S", set_) + (["--force"] if force else [])
    if chosen == Mode.PRODUCTION:
        _production(out, project, exp or [], force, refresh=False, argv=argv)
        return
    from artifactctl.overrides import parse_overrides
    from artifactctl.runs.testrun import run_test

    overrides = parse_overrides(set_ or [])
    _execute(
        out,
        lambda progress: run_test(
            project,
            name=name,
            experiments=exp or [],
            overrides=overrides,
            command=_command_line(argv),
            progress=progress,
        ),
    )


def _repeat(flag: str, values: list[str] | None) -> list[str]:
    return [part for value in values or [] for part in (flag, value)]


def _command_line(argv: list[str]) -> str:
    """The command as the run records it (run.json, the overwrite log)."""
    import shlex

    return shlex.join(["artifactctl", *argv])


@command(name="refresh")
def refresh_command(
    exp: list[str] = _exp_option(),
    force: bool = typer.Option(
        False, "--force", help="Replace registered experiments' artifacts (each one is logged)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Regenerate production artifacts from scratch (`dvc repro --force`), under the policy."""
    from artifactctl import layout
    from artifactctl.cli.output import Output

    out = Output(json_mode=as_json)
    project = open_project(out)
    for item in exp or []:
        layout.validate_name(item, "experiment ID")
    argv = ["refresh", *_repeat("--exp", exp), *(["--force"] if force else [])]
    _production(out, project, exp or [], force, refresh=True, argv=argv)


def _production(
    out: Output, project: Project, exps: list[str], force: bool, refresh: bool, argv: list[str]
) -> None:
    from artifactctl.runs.production import run_production

    _execute(
        out,
        lambda progress: run_production(
            project,
            experiments=exps,
            force=force,
            refresh=refresh,
            command=_command_line(argv),
            progress=progress,
        ),
    )


def _execute(out: Output, run: Callable[[Progress], RunReport]) -> None:
    """Run with a progress display, render the report, exit with its code."""
    with _stage_progress(out) as progress:
        report = run(progress)
    if report.replaced_run:
        out.warn(f"replaced the earlier test run {report.name!r} ({report.path}/)")
    # A failure before any stage ran has no table to show.
    shown = report.ok or bool(report.stages or report.refused)
    if shown:
        out.result(report.to_dict(), lambda console: render(console, report), schema=RUN_SCHEMA)
    if not report.ok:
        # under --json the report (ok: false) is already the one document on stdout
        as_json = out.json_mode and not shown
        fail(report.message or report.status, report.hint, report.exit_code, None, as_json=as_json)


RUN_SCHEMA = "artifactctl.run_report/1"  # run and refresh (artifactctl.run/1 is run.json)


class _stage_progress:
    """A rich progress bar over the stages (stderr, terminals only) plus one line per stage."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not (self.out.json_mode or self.out.quiet) and self.out.err.is_terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self.out.err,
                transient=True,
            )
            self.bar.__enter__()
        self.task: Any = None
        return self.update

    def update(self, stage: str, result: StageResult | None) -> None:
        if result is None:
            if self.bar is not None:
                self.task = self.bar.add_task(f"running {stage}")
            return
        if self.bar is not None and self.task is not None:
            self.bar.remove_task(self.task)
        if result.status == "ran":
            self.out.info(f"  {stage}: done in {result.seconds:.1f}s")
        elif result.status == "failed":
            self.out.info(f"  {stage}: failed after {result.seconds:.1f}s")

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def render(console: Console, report: RunReport) -> None:
    from artifactctl.cli.output import table

    rows = [
        (
            s.stage,
            s.experiment or "",
            s.status,
            f"{s.seconds:.1f}s" if s.status in ("ran", "failed") else "",
            str(s.outputs) if s.outputs else "",
            "" if s.metric is None else f"{s.metric:.4f}",
        )
        for s in report.stages
    ]
    where = " + ".join(f"{p.rstrip('/')}/" for p in report.folders or [report.path])
    title = f"{report.mode} run" + (f" {report.name}" if report.name else "") + f" -> {where}"
    if rows:
        console.print(
            table(
                title,
                ["stage", "experiment", "status", "duration", "outputs", report.metric],
                rows,
                justify_right=("duration", "outputs", report.metric),
                no_wrap=("stage",),
            )
        )
        ran = sum(1 for s in report.stages if s.status == "ran")
        console.print(f"\n{ran} stage(s) ran, {len(report.stages) - ran} not run")
    if report.overrides:
        pairs = ", ".join(f"{k}={v}" for k, v in report.overrides.items())
        console.print(f"overrides (this run only): {pairs}")
    for item in report.refused:
        why = f"{item['stage']}: {item['reason']}"
        console.print(f"[red]would replace[/red] {item['path']} ({why})")
    for item in report.backups:
        console.print(f"[yellow]backed up[/yellow] preserved {item['path']} -> {item['backup']}")
    for record in report.replaced:
        console.print(
            f"[yellow]replaced[/yellow] {record['path']} "
            f"({record['md5_before']} -> {record['md5_after']}), logged"
        )


@command(name="show-run")
def show_run_command(
    run: str = typer.Argument(..., help="A run ID (save_run), a test run name, or a run folder."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """A run's files, sizes, checksum state and metrics (exit 1 if a file does not match)."""
    from artifactctl.cli.output import Output
    from artifactctl.runs.saved import inspect_run

    out = Output(json_mode=as_json)
    project = open_project(out)
    info = inspect_run(project, run)
    out.result(
        info.to_dict(), lambda console: render_run(console, info), schema="artifactctl.run_info/1"
    )
    if not info.ok:
        raise typer.Exit(1)


def render_run(console: Console, info: RunInfo) -> None:
    from artifactctl.cli.output import human_size, table

    rows = [(f.name, human_size(f.size), f.state, (f.sha256 or "")[:16]) for f in info.files]
    console.print(
        table(
            f"{info.kind} run {info.run_id} ({info.mode or '?'}, {info.created or '?'}) "
            f"at {info.path}/",
            ["file", "size", "state", "sha256"],
            rows,
            justify_right=("size",),
            no_wrap=("state",),
        )
    )
    if info.model_type:
        console.print(f"model: {info.model_type}")
    if info.metrics:
        flat = _flatten(info.metrics)
        console.print(table("metrics", ["metric", "value"], [(k, v) for k, v in flat]))
    verdict = "[green]all files match[/green]" if info.ok else "[red]files do not match[/red]"
    console.print(f"\n{len(info.files)} files - {verdict}")


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flatten(value, name + "."))
        elif isinstance(value, float):
            rows.append((name, f"{value:.6g}"))
        else:
            rows.append((name, str(value)))
    return rows
