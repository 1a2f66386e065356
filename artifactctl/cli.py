"""Console entry point: ``artifactctl`` and ``python -m artifactctl``.

Each command lives in a small module under ``artifactctl.commands``; importing
them registers them on the app. They import the library (and DVC, pandas,
joblib) only inside the command bodies, so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib

from artifactctl.app import app

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
)
for _name in COMMAND_MODULES:
    importlib.import_module(f"artifactctl.commands.{_name}")


def main() -> None:
    app(prog_name="artifactctl")
