"""Console entry point: ``artifactctl`` and ``python -m artifactctl``.

Each command lives in a small module of this package; importing them registers
them on the app. They import the library (and DVC, pandas, joblib, rich) only
inside the command bodies, so that start-up stays fast.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

ALLOCATIONS_PER_COLLECTION = 50_000  # the first generation's threshold (see main)

# Importing a command module registers its commands; this order is the order of `--help`.
# Each module with the commands (or group) it registers: a command line that names one
# loads only its module (tests/test_cli_modules.py holds this table to what they register).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "init": ("init",),
    "status": ("status",),
    "run": ("run", "refresh", "show-run"),
    "sync": ("pull", "push"),
    "preserve": ("preserve",),  # a group: preserve add, remove, list
    "remote": ("remote",),  # a group: remote list, add, default, ...
    "verify": ("verify",),
    "registry": (
        "new",
        "list",
        "show",
        "promote",
        "rollback",
        "archive",
        "unarchive",
        "where",
        "history",
    ),
    "clean": ("clean", "keep"),
    "serve": ("serve", "report"),
    "completion": ("completion",),
}
_MODULE_OF = {command: module for module, names in COMMAND_MODULES.items() for command in names}


def load_app(args: Sequence[str] | None = None) -> typer.Typer:
    """The Typer app with its commands registered: for a command line ``args`` whose
    first word names a command, only that command's module (each module imports Typer
    options and builds its commands: a few milliseconds on every run); otherwise, for
    ``--help``, completion or a misspelt command, every module."""
    from artifactctl.cli.app import COMPLETE_VAR, app

    words = [a for a in args or () if not a.startswith("-")]
    module = _MODULE_OF.get(words[0]) if words and not os.environ.get(COMPLETE_VAR) else None
    for name in [module] if module else COMMAND_MODULES:
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
    app = load_app(sys.argv[1:])
    gc.freeze()  # what was imported lives until exit: no collection need walk it again
    app(prog_name="artifactctl")


def __getattr__(name: str) -> Any:  # `from artifactctl.cli import app` still works
    if name == "app":
        return load_app()
    raise AttributeError(f"module 'artifactctl.cli' has no attribute {name!r}")
