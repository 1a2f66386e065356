"""Console entry point: ``artifactctl`` and ``python -m artifactctl``.

Each command lives in a small module under ``artifactctl.commands``; importing
them registers them on the app. They import the library (and DVC, pandas,
joblib) only inside the command bodies, so ``--help`` stays fast.
"""

from __future__ import annotations

from artifactctl.app import app
from artifactctl.commands import (  # noqa: F401  (registers commands)
    init,
    status,
    verify,
)


def main() -> None:
    app(prog_name="artifactctl")
