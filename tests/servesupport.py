"""A real `artifactctl serve` in a subprocess on 127.0.0.1, and raw HTTP requests to it."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import BIN, artifactctl, point_remote

URL_LINE = re.compile(r"serving .* at (http://(\S+?):(\d+)/) ")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    host: str
    port: int
    log: Path
    token: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)

    def request(
        self, path: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> Answer:
        """One request with ``path`` sent exactly as given (no normalisation of ``..``)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        sent = dict(headers or {})
        if self.token and "Authorization" not in sent:
            sent["Authorization"] = f"Bearer {self.token}"
        try:
            conn.request(method, path, headers=sent)
            resp = conn.getresponse()
            body = resp.read()
            return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
        finally:
            conn.close()

    def get_json(self, path: str) -> Any:
        answer = self.request(path)
        assert answer.status == 200, (path, answer.status, answer.body[:500])
        assert answer.headers["content-type"].startswith("application/json")
        return answer.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # uvicorn stops gracefully on SIGTERM
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(
    repo: Path,
    *args: str,
    log: Path,
    token: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> Server:
    """`artifactctl serve --port 0 ARGS` in ``repo``; returns once the URL is printed."""
    full_env = {**os.environ, **(env or {})}
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [str(BIN / "artifactctl"), "serve", "--port", "0", *args],
            cwd=repo,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = URL_LINE.search(log.read_text(errors="replace"))
        if match:
            server = Server(proc, match.group(1), match.group(2), int(match.group(3)), log, token)
            _wait_until_up(server, deadline)
            return server
        if proc.poll() is not None:
            raise AssertionError(f"artifactctl serve exited {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise AssertionError(f"artifactctl serve did not start in {timeout} s:\n{log.read_text()}")


def _wait_until_up(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if server.request("/api/health").status in (200, 401):
                return
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"the server never answered:\n{server.log_text()}")


@contextlib.contextmanager
def serving(repo: Path, log: Path, *args: str, **kw: Any) -> Iterator[Server]:
    server = start_server(repo, *args, log=log, **kw)
    try:
        yield server
    finally:
        server.stop()


def reference_repo(built_pipeline: Path, dest: Path, promote: tuple[str, ...]) -> Path:
    """A private copy of the reproduced reference pipeline with ``promote`` promoted in order."""
    repo = dest / "repo"
    shutil.copytree(built_pipeline, repo, symlinks=True)
    point_remote(repo, dest / "remote")
    for exp_id in promote:
        proc = artifactctl(repo, "promote", exp_id)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return repo
