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

ALLOCATIONS_PER_COLLECTION = 50_000  # the first generation's threshold (see main)

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
    # Fewer garbage collections: a command that keeps a record or two per file
    # (verify, status of 20,000 files) allocates some 150,000 acyclic objects, and
    # CPython's default first threshold (700 allocations) collected about 230 times
    # to free none of them, a tenth of a warm verify; importing Typer and the library
    # took another 30 collections. Cycles are still collected, every 50,000
    # allocations. (The command line only: a program importing the library keeps
    # its own settings.)
    gc.set_threshold(ALLOCATIONS_PER_COLLECTION, *gc.get_threshold()[1:])
    app = load_app()
    gc.freeze()  # what was imported lives until exit: no collection need walk it again
    app(prog_name="artifactctl")


def __getattr__(name: str) -> Any:  # `from artifactctl.cli import app` still works
    if name == "app":
        return load_app()
    raise AttributeError(f"module 'artifactctl.cli' has no attribute {name!r}")
