"""Signed S3 GETs and PUTs straight over aiohttp, for the many small objects of a pull or
a push.

botocore spends about 1.4 ms of CPU on each request (endpoint rules, event hooks,
serialising, signing, parsing), and a transfer of small objects runs them all on one
event loop: 3,000 GETs of 4 KiB from SeaweedFS on this machine took 6.4-7.5 s through
s3fs and 1.9-2.2 s as GETs signed here (client CPU 4.4 s vs 0.7-0.9 s;
``docs/performance.md``).

Nothing about the remote is guessed: the transfer's first object goes through botocore
and its prepared request is read (``Learner``: URL, headers, ``Authorization``). Direct
requests are used only when that request needed nothing but Signature V4 (no query
string; no encryption, ACL, storage-class, requester-pays or expected-owner header) and
no proxy is set for it in the environment (``HTTP(S)_PROXY``, ``NO_PROXY``); they go to
the same URL shape, signed as botocore signs them (for the same region and service, the
payload's SHA-256 signed, with the credentials botocore holds, asked again for every
request so refreshed credentials are used), through aiohttp, the HTTP library aiobotocore
itself runs on. Anything else keeps botocore for every object. A direct request that
fails in any way (a status other than 200, connection, an interrupted body) is made again
through botocore, and if botocore then succeeds the callers stop direct requests for the
rest of the transfer: botocore keeps every error, retry and redirect rule it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
from yarl import URL

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
ALGORITHM = "AWS4-HMAC-SHA256"
# Headers botocore adds to a GetObject or PutObject that plain signed requests do without
# (its own checksum headers: a PUT here carries Content-MD5, which the server checks).
PLAIN = {
    "authorization",
    "user-agent",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "x-amz-checksum-mode",
    "amz-sdk-invocation-id",
    "amz-sdk-request",
    "content-md5",
    "content-length",
    "expect",
    "x-amz-sdk-checksum-algorithm",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
}
OPERATIONS = {"GET": "GetObject", "PUT": "PutObject"}
log = logging.getLogger("artifactctl.sync")
_SCOPE = re.compile(rf"{ALGORITHM} Credential=[^/]+/\d{{8}}/([^/]+)/([^/]+)/aws4_request,")


def key_suffix(md5: str) -> str:
    """The end of an object's key, after the remote's folder (DVC's layout)."""
    return f"{md5[:2]}/{md5[2:]}"


class Route:
    """Which way one transfer's requests go: direct while they work, else botocore."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.direct: Direct | None = None
        self.used = 0  # objects moved by direct requests

    async def run(
        self,
        s3: Any,
        bucket: str,
        md5s: list[str],
        requests: int,
        each: Callable[[list[str], int], Awaitable[None]],
    ) -> None:
        """``each(objects, concurrency)``: the first object through botocore (the client of
        s3fs's filesystem ``s3`` for ``bucket``) while its request is learnt, then the rest,
        ``requests`` at a time, with ``self.direct`` set if that request allows it."""
        await s3.set_session()
        learner = Learner(await s3.get_s3(bucket), self.method)
        with learner.watching():
            await each(md5s[:1], 1)
        direct = learner.direct(key_suffix(md5s[0])) if md5s else None
        if direct is None:
            log.debug("direct %ss: none (the request needs more than SigV4)", self.method)
            await each(md5s[1:], requests)
            return
        async with direct:
            self.direct = direct
            await each(md5s[1:], requests)
        log.debug("direct %ss: %d of %d objects", self.method, self.used, len(md5s))

    def botocore_did(self, tried: Direct | None, why: str) -> None:
        """botocore did what ``tried`` (None: nothing was tried) failed to do, for ``why``:
        no more direct requests in this transfer."""
        if tried is not None and self.direct is not None:
            log.debug("direct %ss off: %s for an object botocore then did", self.method, why)
            self.direct = None


class Learner:
    """Reads the prepared requests of GETs or PUTs of an object the client sends while
    it watches (a botocore hook)."""

    def __init__(self, client: Any, method: str = "GET") -> None:
        self.client = client
        self.event = f"before-send.s3.{OPERATIONS[method]}"
        self.url = ""
        self.headers: dict[str, str] = {}

    def __call__(self, request: Any, **_: Any) -> None:  # returning None lets it be sent
        # the last one sent wins: after a region redirect or a retry, the one that worked
        self.url = request.url
        self.headers = {
            k.lower(): v.decode() if isinstance(v, bytes) else str(v)
            for k, v in request.headers.items()
        }

    @contextlib.contextmanager
    def watching(self) -> Iterator[Learner]:
        events = self.client.meta.events
        events.register(self.event, self)
        try:
            yield self
        finally:
            events.unregister(self.event, self)

    def direct(self, suffix: str) -> Direct | None:
        """A ``Direct`` for keys ending like ``suffix`` (the learnt request's last part),
        or None when the request needed more than plain signed requests give."""
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
    """Signed requests for ``base`` + a key suffix; used as ``async with`` (the session)."""

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
            connector=aiohttp.TCPConnector(limit=0),  # the transfer bounds its requests
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def get(self, suffix: str) -> Any:
        """The response to a signed GET (aiohttp's, body unread; release it when done)."""
        url = URL(self.base + suffix, encoded=True)
        headers = await self._signed("GET", url, {}, EMPTY_SHA256)
        return await self.session.get(url, headers=headers)

    async def put(self, suffix: str, data: bytes, content_md5: str) -> str | None:
        """A signed PUT of ``data`` (``content_md5``: its md5, base64, checked by the
        server); None if stored, else why not."""
        url = URL(self.base + suffix, encoded=True)
        if len(data) < 1 << 20:
            payload = hashlib.sha256(data).hexdigest()
        else:  # a big body is hashed off the event loop
            payload = (await asyncio.to_thread(hashlib.sha256, data)).hexdigest()
        headers = await self._signed("PUT", url, {"content-md5": content_md5}, payload)
        try:
            async with self.session.put(url, data=data, headers=headers) as response:
                await response.read()
                return None if response.status == 200 else f"HTTP {response.status}"
        except (TimeoutError, aiohttp.ClientError) as exc:
            return repr(exc)

    async def _signed(self, method: str, url: URL, headers: dict[str, str], payload: str) -> Any:
        credentials = await self.credentials.get_frozen_credentials()
        now = datetime.datetime.now(datetime.UTC)
        return self.sign(method, url.raw_path, credentials, now, headers, payload)

    def sign(
        self,
        method: str,
        path: str,
        credentials: Any,
        now: datetime.datetime,
        headers: dict[str, str],
        payload: str,
    ) -> dict[str, str]:
        """Signature V4 headers for ``method`` on ``path`` (as sent: quoted; no query) with
        ``headers`` (lower-case names) signed too, at ``now``, with ``credentials``
        (access_key, secret_key, token), the body's SHA-256 ``payload``."""
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        signed = {**headers, "host": self.host, "x-amz-content-sha256": payload}
        signed["x-amz-date"] = stamp
        if credentials.token:
            signed["x-amz-security-token"] = credentials.token
        names = sorted(signed)
        canonical = "\n".join(
            [
                method,
                path,
                "",
                # values with their white space folded, as botocore does
                *(f"{k}:{' '.join(signed[k].split())}" for k in names),
                "",
                ";".join(names),
                payload,
            ]
        )
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{digest}"
        key = self._key(day, credentials.secret_key)
        signature = hmac.new(key, to_sign.encode(), "sha256").hexdigest()
        del signed["host"]  # aiohttp sends it
        signed["Authorization"] = (
            f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        return signed

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
