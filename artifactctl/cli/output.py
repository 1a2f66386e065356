"""The one place that decides how results reach the terminal.

Commands hand an Output their result as plain data plus a function that draws
it with rich. With ``--json`` only JSON goes to stdout; messages, warnings and
progress always go to stderr, so stdout stays parseable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

STATE_STYLES = {
    "ok": "green",
    "modified": "yellow",
    "missing": "red",
    "not_in_cache": "magenta",
    "not_pushed": "cyan",
    "corrupted": "red",
    "extra": "yellow",
    "preserved": "blue",
    "unreadable": "red",
}


class Output:
    def __init__(self, json_mode: bool = False, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self._out: Console | None = None
        self._err: Console | None = None

    @property
    def out(self) -> Console:
        if self._out is None:
            import os

            from rich.console import Console

            console = Console(highlight=False, soft_wrap=False)
            if not console.is_terminal and "COLUMNS" not in os.environ:
                # Piped or captured output: do not squeeze tables into 80 columns.
                console = Console(highlight=False, soft_wrap=False, width=160)
            self._out = console
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, highlight=False)
        return self._err

    def result(
        self,
        data: Any,
        render: Callable[[Console], None],
        text: Callable[[], str | None] | None = None,
    ) -> None:
        """Print ``data`` as JSON (``--json``) or draw it with ``render``.

        ``data`` may be a function returning the document, so that building a
        large one costs nothing when a table is drawn instead. ``text``, when
        given and returning a string, is the whole output as plain text (no
        markup, no styles): where stdout is not a terminal it is written as is
        and rich is never imported.
        """
        if self.json_mode:
            if callable(data):
                data = data()
            sys.stdout.write(dumps(data) + "\n")
            sys.stdout.flush()
        elif not self.quiet:
            plain = None
            if text is not None and not _maybe_terminal(sys.stdout):
                plain = text()
            if plain is None:
                render(self.out)
            else:
                sys.stdout.write(plain)
                sys.stdout.flush()

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(message, markup=False)

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {escape(message)}")

    def error(self, message: str, hint: str = "") -> None:
        self.err.print(f"[bold red]error:[/bold red] {escape(message)}", soft_wrap=True)
        if hint:
            self.err.print(f"[dim]hint: {escape(hint)}[/dim]", soft_wrap=True)

    @contextmanager
    def progress(
        self, description: str, total: float | None = None, bytes_: bool = False
    ) -> Iterator[Callable[[float], None]]:
        """A progress bar on stderr when it is a terminal; yields ``advance(n)``."""
        # The cheap check first: it spares importing rich when stderr is a pipe or file.
        if self.json_mode or self.quiet or not _maybe_terminal(sys.stderr):
            yield lambda n: None
            return
        if not self.err.is_terminal:
            yield lambda n: None
            return
        bar = _progress(self.err, bytes_)
        with bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)


# Variables that make rich treat any stream as a terminal.
_FORCE_TERMINAL = ("FORCE_TERMINAL", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


def _maybe_terminal(stream: Any) -> bool:
    """False when rich would surely not see a terminal (without importing rich)."""
    import os

    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False
    return tty or any(os.environ.get(name) for name in _FORCE_TERMINAL)


def _progress(console: Console, bytes_: bool) -> Progress:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    columns: list[Any] = [TextColumn("{task.description}"), BarColumn()]
    columns += [DownloadColumn(), TransferSpeedColumn()] if bytes_ else [MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    return Progress(*columns, console=console, transient=True)


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=_default)


def _default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    justify_right: Sequence[str] = (),
    no_wrap: Sequence[str] = (),
) -> Any:
    """A rich Table with the project's look; empty columns are dropped."""
    from rich.table import Table

    keep = [
        i for i, _ in enumerate(columns) if any(row[i] not in (None, "") for row in rows)
    ] or list(range(len(columns)))
    columns = [columns[i] for i in keep]
    rows = [[row[i] for i in keep] for row in rows]
    t = Table(
        title=title, title_justify="left", header_style="bold", show_edge=False, pad_edge=False
    )
    for col in columns:
        t.add_column(
            col,
            justify="right" if col in justify_right else "left",
            overflow="fold",
            no_wrap=col in no_wrap,
        )
    for row in rows:
        t.add_row(
            *[styled(c) if isinstance(c, str) else ("" if c is None else str(c)) for c in row]
        )
    return t


def styled(cell: str) -> str:
    """Colour a known state word; escape everything else."""
    style = STATE_STYLES.get(cell)
    return f"[{style}]{cell}[/{style}]" if style else escape(cell)


def human_size(n: int | float | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
