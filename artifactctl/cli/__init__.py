"""Console entry point: ``artifactctl`` and ``python -m artifactctl``.

Each command lives in a small module under ``artifactctl.commands``; importing
them registers them on the app. They import the library (and DVC, pandas,
joblib) only inside the command bodies, so ``--help`` stays fast.

``artifactctl verify`` with options it knows skips Typer altogether (see
``commands.verify_main``): importing Typer is a third of its start-up.
"""

from __future__ import annotations

import importlib
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (7 ms at start-up)
if TYPE_CHECKING:
    from typing import Any

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
)


def load_app() -> Any:
    """The Typer app with every command registered."""
    from artifactctl.cli.app import app

    for name in COMMAND_MODULES:
        importlib.import_module(f"artifactctl.cli.{name}")
    return app


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["verify"]:
        from artifactctl.cli.verify_main import main as verify_main
        from artifactctl.cli.verify_main import parse
        from artifactctl.verify import early

        options = parse(argv[1:])
        if options is not None and options["deep"]:
            early.start(options["paths"], options["cache"], options["tests"], options["jobs"])
        try:
            code = verify_main(argv[1:])
        finally:
            early.cancel()
        if code is not None:
            # Leave without tearing down every object the run made (a few milliseconds
            # for 20,000 files); nothing is left to clean up once the streams are flushed.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    load_app()(prog_name="artifactctl")


def __getattr__(name: str) -> Any:  # `from artifactctl.cli import app` still works
    if name == "app":
        return load_app()
    raise AttributeError(f"module 'artifactctl.cli' has no attribute {name!r}")
