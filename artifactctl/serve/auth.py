"""The optional bearer token, required on every request when set (401 without it)."""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send


class BearerToken:
    """ASGI middleware: ``Authorization: Bearer <token>``, compared in constant time."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "schema": "artifactctl.error/1",
                "status": 401,
                "error": "a bearer token is required",
                "hint": "send the header `Authorization: Bearer <token>`",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="artifactctl"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _allowed(self, scope: Scope) -> bool:
        given = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                given = value
        scheme, _, credentials = given.partition(b" ")
        # compare_digest on every request, whatever the scheme, so timing tells nothing.
        same = hmac.compare_digest(credentials.strip(), self.expected)
        return same and scheme.lower() == b"bearer"
