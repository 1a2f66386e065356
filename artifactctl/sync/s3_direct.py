"""Signed S3 GETs straight over aiohttp, for the many small objects of a fetch.

botocore spends about 1.4 ms of CPU on each request (endpoint rules, event hooks,
serialising, signing, parsing), and a fetch of small objects runs them all on one event
loop: 3,000 GETs of 4 KiB from SeaweedFS on this machine took 6.4-7.5 s through s3fs and
1.9-2.2 s as GETs signed here (client CPU 4.4 s vs 0.7-0.9 s; ``docs/performance.md``).

Nothing about the remote is guessed: the fetch's first object goes through botocore
(``learn``) and its prepared request is read (URL, headers, ``Authorization``). Direct
GETs are used only when that request needed nothing but Signature V4 (no query string,
no encryption-key, requester-pays or expected-owner header) and no proxy is set for it
in the environment (``HTTP(S)_PROXY``, ``NO_PROXY``); they go to the same URL
shape, signed for the same region and service with the credentials botocore holds
(asked again for every request, so refreshed credentials are used), through aiohttp,
the HTTP library aiobotocore itself runs on. Anything else keeps botocore for every
object. A direct GET that fails in any way (status other than 200, connection, an
interrupted body) is given to botocore for that object, and if botocore then succeeds
the direct path is switched off for the rest of the fetch: botocore keeps every error,
retry and redirect rule it has.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import re
from collections.abc import Iterator
from typing import Any

import aiohttp
from yarl import URL

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
ALGORITHM = "AWS4-HMAC-SHA256"
# Headers botocore adds to every GET that a plain signed GET can do without.
PLAIN = {
    "authorization",
    "user-agent",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "x-amz-checksum-mode",
    "amz-sdk-invocation-id",
    "amz-sdk-request",
}
_SCOPE = re.compile(rf"{ALGORITHM} Credential=[^/]+/\d{{8}}/([^/]+)/([^/]+)/aws4_request,")


class Learner:
    """Reads the prepared request of the next GET the client sends (a botocore hook)."""

    EVENT = "before-send.s3.GetObject"

    def __init__(self, client: Any) -> None:
        self.client = client
        self.url = ""
        self.headers: dict[str, str] = {}

    def __call__(self, request: Any, **_: Any) -> None:  # returning None lets it be sent
        if not self.url:
            self.url = request.url
            self.headers = {
                k.lower(): v.decode() if isinstance(v, bytes) else str(v)
                for k, v in request.headers.items()
            }

    @contextlib.contextmanager
    def watching(self) -> Iterator[Learner]:
        events = self.client.meta.events
        events.register(self.EVENT, self)
        try:
            yield self
        finally:
            events.unregister(self.EVENT, self)

    def direct(self, suffix: str) -> Direct | None:
        """A ``Direct`` for keys ending like ``suffix`` (the learnt request's last part),
        or None when the request needed more than a plain signed GET."""
        if not self.url.endswith(suffix) or "?" in self.url or set(self.headers) - PLAIN:
            return None
        match = _SCOPE.match(self.headers.get("authorization", ""))
        credentials = getattr(getattr(self.client, "_request_signer", None), "_credentials", None)
        if match is None or credentials is None or _proxied(self.url):
            return None
        region, service = match.groups()
        config = self.client.meta.config
        return Direct(
            self.url[: -len(suffix)], region, service, credentials, config.connect_timeout,
            config.read_timeout,
        )  # fmt: skip


class Direct:
    """Signed GETs of ``base`` + a key suffix; ``open()`` inside the event loop first."""

    def __init__(
        self,
        base: str,
        region: str,
        service: str,
        credentials: Any,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        self.base, self.region, self.service = base, region, service
        self.credentials = credentials
        self.timeouts = (connect_timeout, read_timeout)
        self.host = URL(base, encoded=True).host_port_subcomponent  # no default port
        self.session: Any = None
        self._keys: dict[tuple[str, str], bytes] = {}

    async def __aenter__(self) -> Direct:
        connect, read = self.timeouts
        self.session = aiohttp.ClientSession(
            auto_decompress=False,  # the stored bytes, as the md5 names them
            timeout=aiohttp.ClientTimeout(sock_connect=connect, sock_read=read),
            connector=aiohttp.TCPConnector(limit=0),  # the fetch bounds its requests
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def get(self, suffix: str) -> Any:
        """The response to a signed GET (aiohttp's, body unread; release it when done)."""
        url = URL(self.base + suffix, encoded=True)
        credentials = await self.credentials.get_frozen_credentials()
        headers = self.sign(url.raw_path, credentials, datetime.datetime.now(datetime.UTC))
        return await self.session.get(url, headers=headers)

    def sign(self, path: str, credentials: Any, now: datetime.datetime) -> dict[str, str]:
        """Signature V4 headers for a GET of ``path`` (as sent: quoted) with no query and no
        body, at ``now``, with ``credentials`` (access_key, secret_key, token)."""
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        headers = {"x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": stamp}
        if credentials.token:
            headers["x-amz-security-token"] = credentials.token
        names = ";".join(["host", *headers])
        canonical = "\n".join(
            [
                "GET",
                path,
                "",
                f"host:{self.host}",
                *(f"{k}:{' '.join(v.split())}" for k, v in headers.items()),  # as botocore
                "",
                names,
                EMPTY_SHA256,
            ]
        )
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{digest}"
        key = self._key(day, credentials.secret_key)
        signature = hmac.new(key, to_sign.encode(), "sha256").hexdigest()
        headers["Authorization"] = (
            f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={names}, Signature={signature}"
        )
        return headers

    def _key(self, day: str, secret: str) -> bytes:
        key = self._keys.get((day, secret))
        if key is None:
            key = f"AWS4{secret}".encode()
            for part in (day, self.region, self.service, "aws4_request"):
                key = hmac.new(key, part.encode(), "sha256").digest()
            self._keys = {(day, secret): key}
        return key


def _proxied(url: str) -> bool:
    """Whether the environment sends ``url`` through a proxy (HTTP(S)_PROXY, NO_PROXY):
    botocore's requests then, which honour it."""
    import urllib.request

    parsed = URL(url, encoded=True)
    proxies = urllib.request.getproxies()
    return parsed.scheme in proxies and not urllib.request.proxy_bypass(parsed.host or "")
