"""Upload objects to an S3 remote: batched existence checks, concurrent verified PUTs.

The client is dvc-s3's own s3fs filesystem for the remote (endpoint, credentials,
encryption from DVC's config, through ``artifactctl.dvc.repo``), as for the fetch
(``sync/fetch_s3.py``); its connection pool is widened to the concurrent requests.

Which objects the remote lacks is decided folder by folder (``files/md5/xx/``, 256 of
them, 32 requests at a time). A folder holding one wanted object gets a HEAD. A folder
holding more is listed (ListObjectsV2, 1,000 keys a page): one page usually answers for
every wanted object in it (up to 256,000 objects on the remote); pages are read while
they number fewer than ``1 + wanted // REQUESTS`` (the round trips the HEADs of that
folder would take), and a folder too big for that has its remaining objects HEADed. So
a small push sends a few HEADs, a big one about one listing per folder, and neither
costs a sequential request per object.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from artifactctl.dvc.tracked import cache_object
from artifactctl.sync.fetch import CHUNK, UP, Fetched, corrupted
from artifactctl.sync.fetch_s3 import REQUESTS

OnBytes = Callable[[int], None]
T = TypeVar("T")

PAGE = 1000  # keys per ListObjectsV2 page (S3's maximum)
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


async def _present(s3: Any, base: str, wanted: list[str], requests: int) -> set[str]:
    """Which of ``wanted`` (sorted) the remote holds: HEADs or listings, folder by folder."""
    bucket, path, _ = s3.split_path(base)
    gate = asyncio.Semaphore(requests)
    by_folder: dict[str, list[str]] = {}
    for md5 in wanted:
        by_folder.setdefault(md5[:2], []).append(md5[2:])

    async def call(method: str, **kwargs: Any) -> Any:
        async with gate:
            return await s3._call_s3(method, Bucket=bucket, **kwargs)

    async def head(prefix: str, name: str) -> bool:
        try:
            await call("head_object", Key=f"{path}/{prefix}/{name}")
        except FileNotFoundError:
            return False
        return True

    async def folder(prefix: str, names: list[str]) -> set[str]:
        listed, last = await _list_folder(call, f"{path}/{prefix}/", names)
        undecided = [n for n in names if last is not None and n > last]
        heads = await asyncio.gather(*(head(prefix, n) for n in undecided))
        listed.update(n for n, there in zip(undecided, heads, strict=True) if there)
        return {prefix + n for n in names if n in listed}

    found = await asyncio.gather(*(folder(p, names) for p, names in by_folder.items()))
    return set().union(*found)


async def _list_folder(
    call: Callable[..., Awaitable[Any]], prefix: str, names: list[str]
) -> tuple[set[str], str | None]:
    """The names listed in one remote folder, and the last one read if the listing stopped
    early (None: the folder was read to its end). One wanted object: no listing, a HEAD."""
    if len(names) < 2:
        return set(), ""
    listed: set[str] = set()
    pages, limit = 0, 1 + len(names) // REQUESTS
    kwargs: dict[str, Any] = {"Prefix": prefix, "MaxKeys": PAGE}
    while True:
        page = await call("list_objects_v2", **kwargs)
        pages += 1
        keys = [item["Key"].rpartition("/")[2] for item in page.get("Contents", ())]
        listed.update(keys)
        if not page.get("IsTruncated") or not keys:
            return listed, None
        if pages >= limit:
            return listed, keys[-1]
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


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

    async def send_all(self, md5s: list[str], requests: int, result: Fetched) -> None:
        queue = iter(md5s)

        async def worker() -> None:
            for md5 in queue:  # workers share one iterator: memory stays flat
                error = await self.send(md5)
                if error is None:
                    result.done.append(md5)
                else:
                    result.failed[md5] = error

        await asyncio.gather(*(worker() for _ in range(min(requests, len(md5s)))))

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
            key = f"{self.path}/{md5[:2]}/{md5[2:]}"
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
            await self.s3._call_s3(
                "put_object", Bucket=self.bucket, Key=key, Body=data, ContentMD5=checksum
            )
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
