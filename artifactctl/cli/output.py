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

            console = Console(highlight=False, soft_wrap=False, **_styling())
            if not console.is_terminal:
                # Piped or captured: plain text with no padding at line ends, and tables
                # not squeezed into 80 columns unless COLUMNS says so.
                width = None if "COLUMNS" in os.environ else 160
                console = Console(
                    file=_Unpadded(sys.stdout), highlight=False, soft_wrap=False, width=width
                )
            self._out = console
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, highlight=False, **_styling())
        return self._err

    def result(
        self,
        data: Any,
        render: Callable[[Console], None],
        text: Callable[[], str | None] | None = None,
        schema: str | None = None,
    ) -> None:
        """Print ``data`` as JSON (``--json``) or draw it with ``render``.

        ``data`` may be a function returning the document, so that building a
        large one costs nothing when a table is drawn instead. ``text``, when
        given and returning a string, is the whole output as plain text (no
        markup, no styles): where stdout is not a terminal it is written as is
        and rich is never imported. ``schema`` names the document (``artifactctl.list/1``)
        when ``data`` has no ``schema`` key of its own: every JSON document has one.
        """
        if self.json_mode:
            if callable(data):
                data = data()
            if schema is not None and "schema" not in data:
                data = {"schema": schema, **data}
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


def _styling() -> dict[str, Any]:
    """NO_COLOR (any non-empty value) means no styling at all: no colour, bold or italic.

    rich's own NO_COLOR support drops colours only; without a colour system it writes
    no escape sequence whatsoever.
    """
    import os

    return {"color_system": None} if os.environ.get("NO_COLOR") else {}


class _Unpadded:
    """A text stream that drops the spaces rich pads table lines with, at each line end."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.pending = ""

    def write(self, text: str) -> int:
        lines = (self.pending + text).split("\n")
        self.pending = lines.pop()
        if lines:
            self.stream.write("".join(line.rstrip(" ") + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.stream.write(self.pending)
            self.pending = ""
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"


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


# Columns that may wrap, by header: free text shrinks first (wrapping at spaces), then paths
# (folding after a "/"); every other column (IDs, states, numbers, gate names) stays whole.
FREE_TEXT = frozenset({"description", "desc", "detail", "reason", "credentials", "gates", "note"})
PATHS = frozenset({"path", "file", "backup", "rule", "tracked by", "url", "endpoint"})
GAP = 2  # between columns (collapsed padding, no vertical rule)
MIN_FREE = 12
MIN_FREE_LAST = 8  # free text narrower than MIN_FREE only when nothing else can give way
MIN_DIGEST = 8


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    justify_right: Sequence[str] = (),
    no_wrap: Sequence[str] = (),
    free: Sequence[str] = (),
    paths: Sequence[str] = (),
    digests: Sequence[str] = (),
) -> Any:
    """A table with the project's look that fits the terminal; empty columns are dropped.

    When the columns are wider than the terminal, free-text columns (``FREE_TEXT`` or
    ``free``) shrink and wrap first, then ``digests`` (md5s, sha256s) are shortened to a
    prefix of at least 8 digits as git shortens commits (``--json`` has them whole), then
    path columns (``PATHS`` or ``paths``) fold after a ``/``; IDs, states, numbers and
    gate names never break (``no_wrap`` is kept for callers that name such a column).
    """
    keep = [
        i for i, _ in enumerate(columns) if any(row[i] not in (None, "") for row in rows)
    ] or list(range(len(columns)))
    cells = [["" if row[i] is None else str(row[i]) for i in keep] for row in rows]
    headers = [columns[i] for i in keep]
    kinds = [_kind(h, free, paths, digests, no_wrap) for h in headers]
    return FitTable(title, headers, cells, kinds, [h in justify_right for h in headers])


def _kind(
    header: str,
    free: Sequence[str],
    paths: Sequence[str],
    digests: Sequence[str],
    no_wrap: Sequence[str],
) -> str:
    if header in no_wrap:
        return "keep"
    if header in FREE_TEXT or header in free:
        return "free"
    if header in PATHS or header in paths:
        return "path"
    return "digest" if header in digests else "keep"


class FitTable:
    """A rich renderable: lays the columns out for the width it is given, then draws them."""

    def __init__(
        self,
        title: str | None,
        headers: list[str],
        cells: list[list[str]],
        kinds: list[str],
        right: list[bool],
    ) -> None:
        self.title, self.headers, self.cells = title, headers, cells
        self.kinds, self.right = kinds, right

    def widths(self, available: int) -> list[int]:
        """Each column's width: natural if it fits, else free text then paths narrowed."""
        from rich.cells import cell_len

        def longest(texts: Any) -> int:
            return max(
                (cell_len(line) for t in texts for line in t.splitlines() or [""]), default=0
            )

        columns = list(zip(*self.cells, strict=True)) if self.cells else [()] * len(self.headers)
        natural = [
            max(cell_len(h), longest(col)) for h, col in zip(self.headers, columns, strict=True)
        ]
        floor = list(natural)
        for i, (kind, col) in enumerate(zip(self.kinds, columns, strict=True)):
            head = cell_len(self.headers[i])
            if kind == "free":
                floor[i] = min(natural[i], max(MIN_FREE, head))
            elif kind == "path":
                segments = [seg for c in col for seg in _segments(c)]
                floor[i] = min(natural[i], max(head, longest(segments)))
            elif kind == "digest":
                floor[i] = min(natural[i], max(head, MIN_DIGEST))
        widths = list(natural)
        excess = sum(widths) + GAP * (len(widths) - 1) - available
        # free text to a readable width, digests, paths; then free text to its last resort
        last = [
            min(natural[i], MIN_FREE_LAST) if k == "free" else 0 for i, k in enumerate(self.kinds)
        ]
        for kind, limit in (("free", floor), ("digest", floor), ("path", floor), ("free", last)):
            excess = _narrow(widths, [k == kind for k in self.kinds], limit, excess)
        return widths

    def __rich_console__(self, console: Console, options: Any) -> Any:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        widths = self.widths(options.max_width)
        if self.title:
            yield Text(self.title)
        t = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
            header_style="bold",
        )
        for header, width, right in zip(self.headers, widths, self.right, strict=True):
            t.add_column(header, justify="right" if right else "left", overflow="fold", width=width)
        for row in self.cells:
            t.add_row(
                *[
                    styled(_fit(c, w, kind))
                    for c, w, kind in zip(row, widths, self.kinds, strict=True)
                ]
            )
        yield t


def _narrow(widths: list[int], chosen: list[bool], limit: list[int], excess: int) -> int:
    """Take ``excess`` cells from the widest chosen columns, none below ``limit``; what is left."""
    while excess > 0:
        candidates = [i for i, w in enumerate(widths) if chosen[i] and w > limit[i]]
        if not candidates:
            break
        widths[max(candidates, key=lambda i: widths[i])] -= 1
        excess -= 1
    return excess


def _fit(cell: str, width: int, kind: str) -> str:
    if kind == "path":
        return _fold_path(cell, width)
    return cell[:width] if kind == "digest" else cell


def _segments(path: str) -> list[str]:
    """``a/b/c.txt`` -> ``["a/", "b/", "c.txt"]``: the pieces a path may fold between."""
    parts = path.split("/")
    return (
        [p + "/" for p in parts[:-1]] + [parts[-1]] if parts[-1] else [p + "/" for p in parts[:-1]]
    )


def _fold_path(path: str, width: int) -> str:
    """The path on lines of at most ``width`` cells, broken only after a ``/``."""
    from rich.cells import cell_len

    if cell_len(path) <= width:
        return path
    lines = [""]
    for seg in _segments(path):
        if lines[-1] and cell_len(lines[-1]) + cell_len(seg) > width:
            lines.append("")
        lines[-1] += seg
    return "\n".join(lines)


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
