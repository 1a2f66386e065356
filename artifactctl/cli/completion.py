"""`artifactctl completion bash|zsh|fish`: the shell completion script.

Typer answers completion requests itself (``_ARTIFACTCTL_COMPLETE``); its completion
classes are registered only when a shell asks (``cli/app.py``), and Typer's
``--install-completion`` options are not added, so start-up does no shell detection.
"""

from __future__ import annotations

import typer

from artifactctl.cli.app import COMPLETE_VAR, app, fail
from artifactctl.errors import EXIT_USAGE

SHELLS = ("bash", "zsh", "fish")


@app.command(name="completion")
def completion_command(
    shell: str = typer.Argument(..., metavar="bash|zsh|fish", help="The shell to complete in."),
) -> None:
    """Print the shell completion script: eval "$(artifactctl completion bash)" in ~/.bashrc.

    zsh: the same line with zsh in ~/.zshrc; fish: artifactctl completion fish >
    ~/.config/fish/completions/artifactctl.fish.
    """
    from typer.completion import completion_init, shell_complete
    from typer.main import get_command

    if shell not in SHELLS:
        fail(
            f"no completion for shell {shell!r}",
            f"use one of {', '.join(SHELLS)}: `artifactctl completion bash`",
            EXIT_USAGE,
            None,
        )
    completion_init()
    raise typer.Exit(
        shell_complete(get_command(app), {}, "artifactctl", COMPLETE_VAR, f"source_{shell}")
    )
