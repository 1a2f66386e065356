"""Console entry point: ``artifactctl`` and ``python -m artifactctl``.

Each command lives in a small module of this package; importing them registers
them on the app. They import the library (and DVC, pandas, joblib, rich) only
inside the command bodies, so that start-up stays fast.
"""

from __future__ import annotations

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
    load_app()(prog_name="artifactctl")


def __getattr__(name: str) -> Any:  # `from artifactctl.cli import app` still works
    if name == "app":
        return load_app()
    raise AttributeError(f"module 'artifactctl.cli' has no attribute {name!r}")
