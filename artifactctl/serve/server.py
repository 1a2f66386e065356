"""Running the application with uvicorn on one listening socket.

The socket is bound before uvicorn starts, so ``--port 0`` picks a free port
and the URL printed is the real one, and a port already taken is reported as
one line and exit 3 instead of a uvicorn log.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from artifactctl.errors import EnvironmentProblem

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def listen(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot listen on {host}:{port}: {exc}", hint="check --host"
        ) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise EnvironmentProblem(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="choose another --port (0 picks a free one)",
        ) from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def run(
    root: Path,
    host: str,
    port: int,
    token: str | None,
    on_ready: Callable[[str], None],
    registry: str | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM: a graceful stop)."""
    import uvicorn

    from artifactctl.serve.app import create_app

    sock = listen(host, port)
    config = uvicorn.Config(
        create_app(root, token, registry),
        log_level="info",
        access_log=True,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    on_ready(url_of(sock))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
