"""The errors an HTTP answer is made of: 400 for a question that needs a registry named,
404 for what is not there, 409 for bytes refused.

Subclasses of the library's own, so a message and a hint travel the same way as
everywhere else; ``app`` turns each into a JSON error document.
"""

from __future__ import annotations

from artifactctl.errors import IntegrityError, UsageError


class NotFound(UsageError):
    """An unknown ID or file, or a name that tries to leave its folder (always 404)."""

    status = 404


class BadRequest(UsageError):
    """A request the server cannot answer as asked, e.g. with no registry named (400)."""

    status = 400


class Refused(IntegrityError):
    """A file whose bytes do not match their record: never served (409)."""

    status = 409

    def __init__(self, message: str, file: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.file = file
