"""Kill artifactctl at the journal's named crash steps (``ARTIFACTCTL_PAUSE_AT``).

With ``ARTIFACTCTL_PAUSE_AT=<step>`` the command says ``artifactctl: paused at <step>``
on stderr and sleeps there, so a test can SIGKILL it at exactly that step, or know
for certain that it had not reached the step yet when it was killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from support import BIN


@dataclass
class Run:
    """A running ``artifactctl`` whose stderr a thread reads line by line."""

    proc: subprocess.Popen[str]
    step: str
    lines: list[str] = field(default_factory=list)
    paused: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None

    def read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if f"artifactctl: paused at {self.step}" in line:
                self.paused.set()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def running(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL it; it must still have been running (else the kill would have missed)."""
        assert self.running(), f"it ended first (exit {self.proc.returncode}): {self.stderr}"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def wait(self, timeout: float | None = None) -> int:
        code = self.proc.wait(timeout=timeout)
        if self.reader is not None:
            self.reader.join(timeout=10)  # the rest of its stderr
        return code


def start(repo: Path, *args: str, pause_at: str, seconds: float = 120) -> Run:
    """Start ``artifactctl ARGS`` in ``repo``; it will pause at the step ``pause_at``."""
    env = {
        **os.environ,
        "ARTIFACTCTL_PAUSE_AT": pause_at,
        "ARTIFACTCTL_PAUSE_SECONDS": str(seconds),
    }
    proc = subprocess.Popen(
        [str(BIN / "artifactctl"), *args],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = Run(proc, pause_at)
    run.reader = threading.Thread(target=run.read_stderr, daemon=True)
    run.reader.start()
    return run


def start_paused(repo: Path, step: str, *args: str, seconds: float = 120) -> Run:
    """Run artifactctl until it reports it reached ``step`` (then it sleeps there)."""
    run = start(repo, *args, pause_at=step, seconds=seconds)
    while not run.paused.wait(0.05):
        if not run.running():
            run.wait()
            raise AssertionError(
                f"never reached step {step!r} (exit {run.proc.returncode}): {run.stderr}"
            )
    return run


def kill_at(repo: Path, step: str, *args: str) -> None:
    start_paused(repo, step, *args).kill()
