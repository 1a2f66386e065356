"""Console entry point: ``artifactctl`` and ``python -m artifactctl``.

Each command lives in a small module of this package; importing them registers
them on the app. They import the library (and DVC, pandas, joblib, rich) only
inside the command bodies, so that start-up stays fast.
"""

from __future__ import annotations

import gc
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

# Importing a command module registers its commands; this order is the order of `--help`.
COMMAND_MODULES = (
    "init",
    "status",
    "run",  # run, refresh, show-run
    "sync",  # pull, push
    "preserve",
    "remote",
    "verify",
    "registry",  # new, list, show, promote, rollback, archive, unarchive, where, history
    "clean",  # clean, keep
    "serve",  # serve, report
    "completion",
)


def load_app() -> typer.Typer:
    """The Typer app with every command registered."""
    from artifactctl.cli.app import app

    for name in COMMAND_MODULES:
        importlib.import_module(f"artifactctl.cli.{name}")
    return app


def main() -> None:
    app = load_app()
    _tune_gc()
    app(prog_name="artifactctl")


def _tune_gc() -> None:
    """Fewer garbage collections for a command that keeps an object or two per file.

    A re-check of 20,000 unchanged files allocates some 150,000 acyclic records
    (stat results, hashes, verdicts), and CPython's default first threshold (700
    allocations) collected about 200 times to free none of them: a tenth of the
    command's time. What was imported so far lives until exit, so it is frozen
    out of the collections; cycles are still collected, every 50,000 allocations.
    (Only the command line: a program that imports the library keeps its own
    settings.)
    """
    gc.freeze()
    gc.set_threshold(50_000, *gc.get_threshold()[1:])


def __getattr__(name: str) -> Any:  # `from artifactctl.cli import app` still works
    if name == "app":
        return load_app()
    raise AttributeError(f"module 'artifactctl.cli' has no attribute {name!r}")
