"""Console entry point: ``artifactctl`` and ``python -m artifactctl``.

Each command lives in a small module under ``artifactctl.commands``; importing
them registers them on the app. They import the library (and DVC, pandas,
joblib) only inside the command bodies, so ``--help`` stays fast.
"""

from __future__ import annotations

from artifactctl.app import app
from artifactctl.commands import clean, init, registry, run, status  # noqa: F401  (registers commands)
from artifactctl.commands import preserve as _preserve  # noqa: F401
from artifactctl.commands import remote as _remote  # noqa: F401
from artifactctl.commands import sync as _sync  # noqa: F401


def main() -> None:
    app(prog_name="artifactctl")
