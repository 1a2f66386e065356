"""HTTP answers: JSON documents, JSON errors, and verified files streamed with Range support.

A file answer carries Content-Length, ``ETag`` (the md5 of the verified bytes),
``Accept-Ranges: bytes``; it honours one ``Range`` (206, or 416 when it cannot be
satisfied; several ranges are answered with the whole file, as RFC 9110 allows),
``If-Range`` and ``If-None-Match`` (304), and HEAD. Bytes are read 1 MiB at a time
from the descriptor that was verified, so memory stays flat whatever the size.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from artifactctl.serve.files import VerifiedFile

log = logging.getLogger("artifactctl.serve")

_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


class Json(Response):
    """JSON with NaN and infinities as null (metrics files may hold them)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        from artifactctl.runs.saved import json_safe

        return json.dumps(json_safe(content), ensure_ascii=False).encode("utf-8")


def error_document(status: int, message: str, hint: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "schema": "artifactctl.error/1",
        "status": status,
        "error": message,
        "hint": hint,
        **extra,
    }


class Unsatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``bytes=`` range; None: send the whole file."""
    if not header or size == 0:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _RANGE.match(spec)
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        n = int(last)
        if n == 0:
            raise Unsatisfiable
        return max(0, size - n), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        raise Unsatisfiable
    return start, end


class FileAnswer(Response):
    """A verified file (or part of it) streamed from its open descriptor, closed at the end."""

    def __init__(self, file: VerifiedFile, filename: str, headers: Any, method: str) -> None:
        self.file = file
        self.head = method == "HEAD"
        etag = f'"{file.md5}"'
        base = {
            "etag": etag,
            "accept-ranges": "bytes",
            "content-disposition": f'attachment; filename="{_quoted(filename)}"',
            "x-content-type-options": "nosniff",
            "cache-control": "no-cache",
        }
        self.start, self.length = 0, file.size
        status = 200
        if _matches(headers.get("if-none-match"), etag):
            status, self.length = 304, 0
        else:
            if_range = headers.get("if-range")
            wanted = headers.get("range") if if_range in (None, etag) else None
            try:
                span = parse_range(wanted, file.size)
            except Unsatisfiable:
                span, status, self.length = None, 416, 0
                base["content-range"] = f"bytes */{file.size}"
            if span is not None:
                status = 206
                self.start, self.length = span[0], span[1] - span[0] + 1
                base["content-range"] = f"bytes {span[0]}-{span[1]}/{file.size}"
        if status != 304:
            base["content-length"] = str(self.length)
        super().__init__(status_code=status, headers=base, media_type="application/octet-stream")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if self.head or self.length == 0:
                await send({"type": "http.response.body", "body": b""})
                return
            await self._stream(send)
        except OSError:
            pass  # the client went away
        finally:
            self.file.close()

    async def _stream(self, send: Send) -> None:
        offset, remaining = self.start, self.length
        while remaining > 0:
            chunk = await anyio.to_thread.run_sync(self._chunk, offset, remaining)
            if chunk is None:
                # The file was written after it was verified: stop before any byte of it is
                # sent. The client gets fewer bytes than Content-Length, i.e. a failed download.
                log.error("%s changed while it was being sent; download aborted", self.file.label)
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            offset += len(chunk)
            remaining -= len(chunk)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _chunk(self, offset: int, remaining: int) -> bytes | None:
        data = self.file.read(offset, remaining)
        if not data or not self.file.unchanged():
            return None
        return data


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def _quoted(name: str) -> str:
    return "".join(c if c.isprintable() and c not in '"\\' else "_" for c in name)
