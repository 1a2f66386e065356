"""Upload objects to an S3 remote: batched existence checks, concurrent verified PUTs.

The client is dvc-s3's own s3fs filesystem for the remote (endpoint, credentials,
encryption from DVC's config, through ``artifactctl.dvc.repo``), as for the fetch
(``sync/fetch_s3.py``); its connection pool is widened to the concurrent requests.

Which objects the remote lacks: up to ``HEAD_AT`` (32) wanted objects get concurrent
HEADs, one round of requests, which is what the first listing page would cost. For more,
the first page of the remote's keys (ListObjectsV2, 1,000 keys a page) is read: a remote
that fits in it is answered. Otherwise its size is estimated from how far that page got
through the 256 folders, and the keys are listed by 16 prefixes (``files/md5/0`` ...
``f``) at once, or 256 (``files/md5/00`` ...) from 128,000 objects on, each prefix a chain
of pages; if the HEADs of the wanted objects would take fewer round trips than that
listing, or less of the client's CPU (parsing 64 listed keys costs about one request), as
when a few thousand objects go to a remote of millions, HEADs it is. Never a request per object in
sequence.

Each object is read from the cache and hashed before its last byte is sent: an object
up to ``MULTIPART_AT`` goes in one PUT (carrying its Content-MD5, so the server also
checks what it received), a bigger one in parts (``PART`` bytes, as dvc-s3 sends them
through s3fs: 50 MiB parts from 100 MiB on), and the upload is completed only if the
md5 of all its bytes matches the object's name, else aborted. A PUT is atomic per key,
so no temporary key is needed; a push killed mid-way leaves at most an incomplete
multipart upload, which is no object. Bytes held in memory are capped (``MEMORY``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from artifactctl.dvc.tracked import cache_object
from artifactctl.sync.fetch import CHUNK, UP, Fetched, corrupted
from artifactctl.sync.fetch_s3 import REQUESTS, each_object
from artifactctl.sync.s3_direct import Route, key_suffix

OnBytes = Callable[[int], None]
T = TypeVar("T")

PAGE = 1000  # keys per ListObjectsV2 page (S3's maximum)
HEAD_AT = REQUESTS  # up to this many objects: HEADs, one round, as one listing page would be
# The client's work: botocore parses about this many listed keys in the time it makes one
# request (a page of 1,000 keys in about 30 ms, a request in about 2 ms, profiled here with
# timestamps left unparsed).
KEYS_PER_REQUEST = 64
PART = 50 << 20  # multipart part size: s3fs's default, which dvc-s3 uses
MULTIPART_AT = 2 * PART  # s3fs sends smaller objects in one PUT
MAX_PARTS = 10_000  # S3's limit: bigger objects get bigger parts
PARTS_IN_FLIGHT = 4  # per object
MEMORY = 256 << 20  # object bytes held at once, over all uploads


class S3Uploader:
    """An S3 remote's uploader (``sync/upload.py``'s ``Uploader``), open over one DVC session."""

    def __init__(self, root: Path, remote: str, cache_dir: Path, jobs: int = 0) -> None:
        self.root, self.remote, self.cache_dir = root, remote, cache_dir
        self.requests = jobs or REQUESTS
        self._stack = contextlib.ExitStack()
        self.s3: Any = None
        self.base = ""

    def __enter__(self) -> S3Uploader:
        from artifactctl.dvc import repo as dvcrepo

        with contextlib.ExitStack() as stack:
            repo = stack.enter_context(dvcrepo.session(self.root))
            with self._errors():
                self.s3, self.base = dvcrepo.remote_filesystem(repo, self.remote, self.requests)
            # One request even when nothing is to be sent: wrong credentials, a missing
            # bucket or an unreachable endpoint are said now, as DVC's push says them.
            bucket, path, _ = self.s3.split_path(self.base)
            probe = self.s3._call_s3("list_objects_v2", Bucket=bucket, Prefix=path, MaxKeys=1)
            self._run(probe)
            self._stack = stack.pop_all()  # closed by __exit__
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()

    def absent(self, md5s: Iterable[str]) -> list[str]:
        wanted = sorted(set(md5s))
        if not wanted:
            return []
        with _timestamps_as_text(self.s3):
            present = self._run(_present(self.s3, self.base, wanted, self.requests))
        return [m for m in wanted if m not in present]

    def send(self, md5s: Sequence[str], on_bytes: OnBytes | None = None) -> Fetched:
        result = Fetched()
        if md5s:
            sender = _Sender(self.s3, self.base, self.cache_dir, on_bytes)
            self._run(sender.send_all(list(md5s), self.requests, result))
        return result

    def _run(self, coro: Awaitable[T]) -> T:
        from fsspec.asyn import sync

        async def run() -> T:
            return await coro

        with self._errors():
            return sync(self.s3.loop, run)

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        from artifactctl.dvc import repo as dvcrepo

        return dvcrepo.remote_op(f"pushing to remote '{self.remote}'")


@contextlib.contextmanager
def _timestamps_as_text(s3: Any) -> Iterator[None]:
    """Most of the time spent on a listing page goes to parsing each key's LastModified
    with dateutil (0.6 of 1.2 s for 10,000 keys); the checks never read it. While they
    run, this client's session (s3fs's own) leaves timestamps as text (botocore's
    ``set_parser_defaults``), and gives them back to its default parser after."""
    try:
        factory = s3.session.get_component("response_parser_factory")
        factory.set_parser_defaults(timestamp_parser=str)
    except Exception:  # another client or botocore: the checks are only slower
        yield
        return
    try:
        yield
    finally:
        factory.set_parser_defaults(timestamp_parser=None)


async def _present(s3: Any, base: str, wanted: list[str], requests: int) -> set[str]:
    """Which of ``wanted`` the remote holds: HEADs when few, else listings (see above)."""
    bucket, path, _ = s3.split_path(base)
    gate = asyncio.Semaphore(requests)

    async def call(method: str, **kwargs: Any) -> Any:
        async with gate:
            return await s3._call_s3(method, Bucket=bucket, **kwargs)

    async def head(md5: str) -> bool:
        try:
            await call("head_object", Key=f"{path}/{key_suffix(md5)}")
        except FileNotFoundError:
            return False
        return True

    async def heads(md5s: list[str]) -> set[str]:
        there = await asyncio.gather(*(head(m) for m in md5s))
        return {m for m, yes in zip(md5s, there, strict=True) if yes}

    if len(wanted) <= HEAD_AT:
        return await heads(wanted)
    first = await call("list_objects_v2", Prefix=f"{path}/", MaxKeys=PAGE)
    if not first.get("IsTruncated"):  # the whole remote in one page
        return set(wanted) & set(_md5s(first))
    size = _estimated_size(_md5s(first))
    shards = 16 if size < 128 * PAGE else 256  # see _rounds
    if _heads_cheaper(len(wanted), size, shards, requests):
        return await heads(wanted)
    width = 1 if shards == 16 else 2
    found: set[str] = set()

    async def shard(prefix: str) -> None:
        kwargs: dict[str, Any] = {"Prefix": f"{path}/{prefix}", "MaxKeys": PAGE}
        while True:
            page = await call("list_objects_v2", **kwargs)
            found.update(_md5s(page))
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    await asyncio.gather(*(shard(f"{n:0{width}x}") for n in range(shards)))
    return set(wanted) & found


def _md5s(page: dict) -> list[str]:
    """The objects a listing page names (``.../files/md5/xx/rest`` -> ``xxrest``)."""
    keys = (item["Key"].rsplit("/", 2) for item in page.get("Contents", ()))
    return [folder + name for _, folder, name in keys]


def _estimated_size(first_page: list[str]) -> int:
    """The remote's object count, from its first page of keys: objects spread evenly over
    the 256 folders, and the page reached folder ``xx``."""
    try:
        reached = int(first_page[-1][:2], 16) + 1
    except (IndexError, ValueError):  # an empty page, or a key of another layout
        reached = 256
    return len(first_page) * 256 // reached


def _heads_cheaper(wanted: int, size: int, shards: int, requests: int) -> bool:
    """Whether HEADs of ``wanted`` objects beat listing ``size`` keys by ``shards`` prefixes:
    in round trips, or in the client's work (its requests, and parsing the keys)."""
    pages = max(shards, -(-size // PAGE))
    fewer_trips = -(-wanted // requests) <= _rounds(size, shards, requests)
    return fewer_trips or wanted <= pages + size // KEYS_PER_REQUEST


def _rounds(size: int, shards: int, requests: int) -> int:
    """Round trips to list ``size`` objects split by ``shards`` key prefixes (16 or 256),
    ``requests`` at a time: each prefix is a chain of pages. 16 prefixes read a small
    remote in one round; from 128,000 objects 256 prefixes take fewer rounds."""
    pages = -(-size // (shards * PAGE))
    return pages * -(-shards // requests)


class _Budget:
    """Object bytes held in memory at once, over every upload (a big one waits its turn)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self.changed = asyncio.Condition()

    async def take(self, n: int) -> int:
        n = min(n, self.limit)
        async with self.changed:
            await self.changed.wait_for(lambda: self.used + n <= self.limit)
            self.used += n
        return n

    async def give(self, n: int) -> None:
        async with self.changed:
            self.used -= n
            self.changed.notify_all()

    @contextlib.asynccontextmanager
    async def hold(self, n: int) -> AsyncIterator[None]:
        taken = await self.take(n)
        try:
            yield
        finally:
            await self.give(taken)


class _Sender:
    def __init__(self, s3: Any, base: str, cache_dir: Path, on_bytes: OnBytes | None) -> None:
        self.s3, self.cache_dir, self.on_bytes = s3, cache_dir, on_bytes
        self.bucket, self.path, _ = s3.split_path(base)
        self.budget = _Budget(MEMORY)
        self.route = Route("PUT")  # single PUTs direct when they can be (sync/s3_direct.py)

    async def send_all(self, md5s: list[str], requests: int, result: Fetched) -> None:
        async def each(some: list[str], concurrency: int) -> None:
            await each_object(some, concurrency, self.send, result)

        await self.route.run(self.s3, self.bucket, md5s, requests, each)

    async def send(self, md5: str) -> str | None:
        """Upload one object; None when done, else why it was not."""
        try:
            fd = os.open(cache_object(self.cache_dir, md5), os.O_RDONLY)
        except FileNotFoundError:
            return f"missing {UP.source}"
        except OSError as exc:
            return f"unreadable {UP.source}: {exc.strerror or exc}"
        try:
            size = os.fstat(fd).st_size
            key = f"{self.path}/{key_suffix(md5)}"
            if size < MULTIPART_AT:
                return await self._put(fd, size, key, md5)
            return await self._multipart(fd, size, key, md5)
        finally:
            os.close(fd)

    async def _put(self, fd: int, size: int, key: str, md5: str) -> str | None:
        async with self.budget.hold(size):
            digest = hashlib.md5()
            data = await _off_loop(size, _read_into, fd, size, digest)
            actual = digest.hexdigest()
            if actual != md5.removesuffix(".dir"):
                return corrupted(actual, UP.source)
            checksum = base64.b64encode(digest.digest()).decode()
            direct, why = self.route.direct, ""
            if direct is not None:
                refused = await direct.put(key_suffix(md5), data, checksum)
                if refused is None:
                    self.route.used += 1
                    self._sent(len(data))
                    return None
                why = refused
            await self.s3._call_s3(
                "put_object", Bucket=self.bucket, Key=key, Body=data, ContentMD5=checksum
            )
            self.route.botocore_did(direct, why)
        self._sent(len(data))
        return None

    async def _multipart(self, fd: int, size: int, key: str, md5: str) -> str | None:
        part = max(PART, -(-size // MAX_PARTS))
        call, bucket = self.s3._call_s3, self.bucket
        upload = (await call("create_multipart_upload", Bucket=bucket, Key=key))["UploadId"]
        digest = hashlib.md5()
        try:
            etags = await self._parts(fd, part, key, upload, digest)
            actual = digest.hexdigest()
            if actual != md5.removesuffix(".dir"):
                await _abort(call, bucket, key, upload)
                return corrupted(actual, UP.source)
            parts = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)]
            await call(
                "complete_multipart_upload",
                Bucket=bucket,
                Key=key,
                UploadId=upload,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            await _abort(call, bucket, key, upload)
            raise
        return None

    async def _parts(self, fd: int, part: int, key: str, upload: str, digest: Any) -> list[str]:
        """Read the parts in order (hashing them), uploading up to PARTS_IN_FLIGHT at once."""
        tasks: list[asyncio.Task[str]] = []
        try:
            while True:
                await _wait_for_room(tasks)
                taken = await self.budget.take(part)
                data = await _off_loop(part, _read_into, fd, part, digest)
                if not data:
                    await self.budget.give(taken)
                    break
                number = len(tasks) + 1
                tasks.append(asyncio.create_task(self._part(key, upload, number, data, taken)))
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise

    async def _part(self, key: str, upload: str, number: int, data: bytes, taken: int) -> str:
        try:
            response = await self.s3._call_s3(
                "upload_part",
                Bucket=self.bucket,
                Key=key,
                UploadId=upload,
                PartNumber=number,
                Body=data,
            )
        finally:
            await self.budget.give(taken)
        self._sent(len(data))
        return str(response["ETag"])

    def _sent(self, n: int) -> None:
        if self.on_bytes:
            self.on_bytes(n)


async def _wait_for_room(tasks: list[asyncio.Task[str]]) -> None:
    """Until fewer than PARTS_IN_FLIGHT parts are being sent; a failed part's error raised."""
    running = [t for t in tasks if not t.done()]
    if len(running) >= PARTS_IN_FLIGHT:
        await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        if task.done() and (error := task.exception()) is not None:
            raise error


def _read_into(fd: int, n: int, digest: Any) -> bytes:
    """Up to ``n`` bytes of ``fd`` (fewer at its end), hashed into ``digest`` as read."""
    chunks = []
    while n > 0 and (data := os.read(fd, min(n, CHUNK))):
        digest.update(data)
        chunks.append(data)
        n -= len(data)
    return b"".join(chunks)


async def _off_loop(size: int, fn: Callable[..., T], *args: Any) -> T:
    """Small reads inline; big ones (a MiB or more) on a thread, off the event loop."""
    if size < CHUNK:
        return fn(*args)
    return await asyncio.to_thread(fn, *args)


async def _abort(call: Callable[..., Awaitable[Any]], bucket: str, key: str, upload: str) -> None:
    with contextlib.suppress(Exception):
        await call("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload)
