"""Fetch objects from an S3 remote into DVC's cache: many concurrent GETs, each verified.

The client is the one DVC itself uses for the remote (dvc-s3's s3fs filesystem, built
from the repository's DVC config: endpoint, credentials, profile, encryption), asked
for through ``artifactctl.dvc.repo``; its connection pool is widened to the number of
concurrent requests. Each object streams into a temporary name in its cache folder
while it is hashed and is renamed into place only if the md5 matches (as in
``sync/fetch.py``), so a corrupted or half-pushed object never enters the cache; with
a ``stage``, its workspace copy is written from the same bytes (the checkout renames it).
The requests run on s3fs's event loop and every file system call on a thread pool: a
file creation takes a millisecond or more on a busy disk, and on the loop it held up every
request (a small object is one hop to a thread: write both copies, rename). An error
other than "no such object" (network, credentials) stops the fetch.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp

from artifactctl.sync.fetch import (
    CHUNK,
    Fetched,
    absent_objects,
    cache_paths,
    default_jobs,
    open_tmp,
    settle,
    unlink_all,
    write_all,
)
from artifactctl.sync.s3_direct import Route, key_suffix

REQUESTS = 32  # concurrent GETs: small objects are latency, not bandwidth


def fetch_s3(
    root: Path,
    remote: str,
    cache_dir: Path,
    md5s: Iterable[str],
    *,
    jobs: int = 0,
    on_bytes: Callable[[int], None] | None = None,
    stage: Path | None = None,
    on_staging: Callable[[], None] | None = None,
) -> Fetched:
    """Download the objects ``md5s`` that the cache lacks from the S3 remote ``remote``.

    ``stage`` and ``on_staging`` as for ``fetch_local``: each object's workspace copy is
    written from the same bytes in the same pass (``<stage>/<md5>``, listed in ``staged``).
    """
    from artifactctl.dvc import repo as dvcrepo

    wanted = absent_objects(cache_dir, md5s)
    result = Fetched()
    if not wanted:
        return result
    requests = jobs or REQUESTS
    with (
        dvcrepo.session(root) as repo,
        dvcrepo.remote_op(f"fetching from remote '{remote}'"),
        ThreadPoolExecutor(default_jobs(), thread_name_prefix="fetch-s3") as files,
    ):
        s3, base = dvcrepo.remote_filesystem(repo, remote, pool=requests)
        from fsspec.asyn import sync

        fetcher = _Fetcher(s3, base, cache_dir, files, on_bytes, stage, on_staging)
        sync(s3.loop, fetcher.fetch_all, wanted, requests, result)
    return result


async def each_object(
    md5s: list[str],
    requests: int,
    one: Callable[[str], Awaitable[str | None]],
    result: Fetched,
    *,
    staged: bool = False,
) -> None:
    """``one(md5)`` for every object, ``requests`` at a time; each outcome (None: done,
    else why not) recorded in ``result`` (``staged``: a done object's copy was staged)."""
    queue = iter(md5s)

    async def worker() -> None:
        for md5 in queue:  # workers share one iterator: memory stays flat
            error = await one(md5)
            if error is None:
                result.done.append(md5)
                if staged:
                    result.staged.add(md5)
            else:
                result.failed[md5] = error

    await asyncio.gather(*(worker() for _ in range(min(requests, len(md5s)))))


class _Fetcher:
    """GETs on the event loop; every file system call (create, write, rename) on the
    thread pool ``files``, so that a slow file creation never holds up the requests.

    The first object goes through botocore and teaches ``s3_direct`` the request's shape;
    the rest are direct signed GETs when that allows it (see ``sync/s3_direct.py``)."""

    def __init__(
        self,
        s3: Any,
        base: str,
        cache_dir: Path,
        files: ThreadPoolExecutor,
        on_bytes: Callable[[int], None] | None,
        stage: Path | None,
        on_staging: Callable[[], None] | None,
    ) -> None:
        self.s3, self.base, self.cache_dir, self.files = s3, base, cache_dir, files
        self.on_bytes, self.stage, self.on_staging = on_bytes, stage, on_staging
        self.route = Route("GET")

    async def fetch_all(self, wanted: list[str], requests: int, result: Fetched) -> None:
        staged = self.stage is not None
        bucket, _, _ = self.s3.split_path(self.base)

        async def each(md5s: list[str], concurrency: int) -> None:
            await each_object(md5s, concurrency, self.fetch_one, result, staged=staged)

        await self.route.run(self.s3, bucket, wanted, requests, each)

    async def fetch_one(self, md5: str) -> str | None:
        direct, why = self.route.direct, ""
        if direct is not None:
            try:
                response = await direct.get(key_suffix(md5))
                try:
                    if response.status == 200:
                        outcome = await self.write(md5, _HttpBody(response))
                        self.route.used += 1
                        return outcome
                    why = f"HTTP {response.status}"
                finally:
                    response.release()
            except (TimeoutError, aiohttp.ClientError) as exc:
                why = repr(exc)
        bucket, path, _ = self.s3.split_path(f"{self.base}/{key_suffix(md5)}")
        try:
            response = await self.s3._call_s3("get_object", Bucket=bucket, Key=path)
        except FileNotFoundError:
            return "missing on the remote"
        self.route.botocore_did(direct, why)
        return await self.write(md5, _BotoBody(response))

    async def write(self, md5: str, body: _BotoBody | _HttpBody) -> str | None:
        """Stream ``body`` into the cache (and the stage); None if it settled, else why not."""
        dst, tmp = cache_paths(self.cache_dir, md5)
        staged = os.path.join(self.stage, md5) if self.stage is not None else None
        writer = _Writer(tmp, staged)
        loop = asyncio.get_running_loop()
        if 0 <= body.length <= CHUNK:  # most objects: one hop to a thread
            try:
                data = await body.read_all()
            finally:
                body.close()
            if self.on_bytes:
                self.on_bytes(len(data))
            return await loop.run_in_executor(self.files, writer.whole, data, dst, md5)
        try:
            try:
                chunks = 0
                while data := await body.read_chunk():
                    await loop.run_in_executor(self.files, writer.write, data)
                    chunks += 1
                    if chunks == 1 and staged is not None and self.on_staging:
                        self.on_staging()  # a copy is partly written
                    if self.on_bytes:
                        self.on_bytes(len(data))
            finally:
                body.close()
                await loop.run_in_executor(self.files, writer.close)
        except BaseException:
            await loop.run_in_executor(self.files, unlink_all, tmp, staged)
            raise
        return await loop.run_in_executor(
            self.files, settle, tmp, dst, md5, writer.md5.hexdigest(), staged
        )


class _BotoBody:
    """A GetObject answer's body, read whole or by ``CHUNK``."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.body = response["Body"]
        self.length: int = response.get("ContentLength", -1)

    async def read_all(self) -> bytes:
        return await self.body.read()

    async def read_chunk(self) -> bytes:
        return await self.body.read(CHUNK)

    def close(self) -> None:
        self.body.close()


class _HttpBody:
    """An aiohttp response's body, read whole or by ``CHUNK`` (the last one shorter)."""

    def __init__(self, response: Any) -> None:
        self.response = response
        length = response.content_length
        self.length: int = -1 if length is None else length

    async def read_all(self) -> bytes:
        return await self.response.read()

    async def read_chunk(self) -> bytes:
        try:
            return await self.response.content.readexactly(CHUNK)
        except asyncio.IncompleteReadError as end:
            return end.partial

    def close(self) -> None:
        self.response.release()


class _Writer:
    """One object's temporary cache file (read-only, DVC's protection) and staged copy,
    written and hashed chunk by chunk, in order, on the file threads."""

    def __init__(self, tmp: str, staged: str | None) -> None:
        self.tmp, self.staged = tmp, staged
        self.md5 = hashlib.md5()
        self.fds: list[int] = []

    def write(self, data: bytes) -> None:
        if not self.fds:
            self.fds.append(open_tmp(self.tmp))
            if self.staged is not None:
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                self.fds.append(os.open(self.staged, flags, 0o666))
        self.md5.update(data)
        for fd in self.fds:
            write_all(fd, memoryview(data))

    def whole(self, data: bytes, dst: str, md5: str) -> str | None:
        """Write a small object at once and settle it (see ``settle``)."""
        try:
            try:
                self.write(data)
            finally:
                self.close()
        except BaseException:
            unlink_all(self.tmp, self.staged)
            raise
        return settle(self.tmp, dst, md5, self.md5.hexdigest(), self.staged)

    def close(self) -> None:
        if not self.fds:  # an empty object: its files are still made
            self.write(b"")
        for fd in self.fds:
            os.close(fd)
        self.fds = []
