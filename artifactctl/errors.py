"""Exception types: each carries its exit code and a one-line hint.

Exit codes (the CLI contract): 0 ok, 1 a check failed, 2 bad input or usage,
3 environment (not a repository, DVC error, remote unreachable, lock held).
The CLI turns any ArtifactctlError into one red line plus its hint.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3


class ArtifactctlError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code: int = EXIT_ENVIRONMENT
    default_hint: str = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = self.default_hint if hint is None else hint

    def __str__(self) -> str:
        return self.message


class CheckFailed(ArtifactctlError):
    """A check ran and found a problem (verification, a gate, a status)."""

    exit_code = EXIT_CHECK_FAILED


class IntegrityError(CheckFailed):
    """A file does not match the checksum it was recorded with."""

    default_hint = "the file was changed after it was written; re-create it or restore it"


class UsageError(ArtifactctlError):
    """Bad input: an invalid name, an unknown ID, a wrong option combination."""

    exit_code = EXIT_USAGE


class NotVerified(UsageError):
    """The command refuses an input whose files fail verification against their record.

    Bad input, not a failed check: the command did not run (``promote`` of an experiment
    whose outputs no longer match dvc.lock). A failed check is ``IntegrityError``.
    """

    default_hint = "restore the files (`dvc checkout`) or rebuild them, then run it again"


class SettingsError(UsageError):
    """[tool.artifactctl] or an ARTIFACTCTL_* variable is invalid."""

    default_hint = "fix [tool.artifactctl] in pyproject.toml or the ARTIFACTCTL_* variable"


class EnvironmentProblem(ArtifactctlError):
    """The surroundings are wrong: no repository, DVC failed, a remote is down."""

    exit_code = EXIT_ENVIRONMENT


class NotARepository(EnvironmentProblem):
    default_hint = "run inside a git + DVC repository (`git init && dvc init`)"


class DvcError(EnvironmentProblem):
    default_hint = "run the matching `dvc` command with -v for DVC's own details"


class RemoteError(EnvironmentProblem):
    default_hint = "check the remote with `artifactctl remote list` and your credentials"


class LockHeld(EnvironmentProblem):
    default_hint = "another artifactctl command is running in this repository; wait for it"
