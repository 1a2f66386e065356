"""Fetch objects from an S3 remote into DVC's cache: many concurrent GETs, each verified.

The client is the one DVC itself uses for the remote (dvc-s3's s3fs filesystem, built
from the repository's DVC config: endpoint, credentials, profile, encryption), asked
for through ``artifactctl.dvc.repo``; its connection pool is widened to the number of
concurrent requests. Each object streams into a temporary name in its cache folder
while it is hashed and is renamed into place only if the md5 matches (as in
``sync/fetch.py``), so a corrupted or half-pushed object never enters the cache.
An error other than "no such object" (network, credentials) stops the fetch.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from artifactctl.sync.fetch import (
    CHUNK,
    Fetched,
    absent_objects,
    cache_paths,
    open_tmp,
    settle,
)

REQUESTS = 32  # concurrent GETs: small objects are latency, not bandwidth


def is_s3(url: str) -> bool:
    return url.startswith("s3://")


def fetch_s3(
    root: Path,
    remote: str,
    cache_dir: Path,
    md5s: Iterable[str],
    *,
    jobs: int = 0,
    on_bytes: Callable[[int], None] | None = None,
) -> Fetched:
    """Download the objects ``md5s`` that the cache lacks from the S3 remote ``remote``."""
    from artifactctl.dvc import repo as dvcrepo

    wanted = absent_objects(cache_dir, md5s)
    result = Fetched()
    if not wanted:
        return result
    requests = jobs or REQUESTS
    with (
        dvcrepo.session(root) as repo,
        dvcrepo.remote_op(f"fetching from remote '{remote}'"),
    ):
        s3, base = dvcrepo.remote_filesystem(repo, remote, pool=requests)
        from fsspec.asyn import sync

        sync(s3.loop, _fetch_all, s3, base, cache_dir, wanted, requests, on_bytes, result)
    return result


async def _fetch_all(
    s3: Any,
    base: str,
    cache_dir: Path,
    wanted: list[str],
    requests: int,
    on_bytes: Callable[[int], None] | None,
    result: Fetched,
) -> None:
    queue = iter(wanted)

    async def worker() -> None:
        for md5 in queue:  # workers share one iterator: memory stays flat
            error = await _fetch_one(s3, f"{base}/{md5[:2]}/{md5[2:]}", cache_dir, md5, on_bytes)
            if error is None:
                result.done.append(md5)
            else:
                result.failed[md5] = error

    await asyncio.gather(*(worker() for _ in range(min(requests, len(wanted)))))


async def _fetch_one(
    s3: Any, key: str, cache_dir: Path, md5: str, on_bytes: Callable[[int], None] | None
) -> str | None:
    bucket, path, _ = s3.split_path(key)
    try:
        response = await s3._call_s3("get_object", Bucket=bucket, Key=path)
    except FileNotFoundError:
        return "missing on the remote"
    dst, tmp = cache_paths(cache_dir, md5)
    digest = hashlib.md5()
    body = response["Body"]
    fd = open_tmp(tmp)
    try:
        try:
            while data := await body.read(CHUNK):
                digest.update(data)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if on_bytes:
                    on_bytes(len(data))
        finally:
            os.close(fd)
            body.close()
    except BaseException:
        with _suppress():
            os.unlink(tmp)
        raise
    return settle(tmp, dst, md5, digest.hexdigest())


def _suppress() -> Any:
    import contextlib

    return contextlib.suppress(FileNotFoundError)
