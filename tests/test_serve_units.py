"""`artifactctl serve` and `report` without the reference pipeline: the command's contract,
names from URLs, verified files, streaming that stops on a change, and a real server in an
empty repository."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from servesupport import serving
from support import artifactctl, init_repo

from artifactctl.serve.errors import NotFound
from artifactctl.serve.files import CHUNK, Candidate, Expected, Mismatch, open_verified
from artifactctl.serve.http import FileAnswer, Unsatisfiable, parse_range
from artifactctl.serve.names import plain_name, relative_name

# ------------------------------------------------------------------ the command


def test_help_does_not_import_fastapi_or_uvicorn() -> None:
    code = (
        "import sys, runpy\n"
        "sys.argv = ['artifactctl', '--help']\n"
        "try:\n"
        "    runpy.run_module('artifactctl', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "serve" in proc.stdout and "report" in proc.stdout
    loaded = {m.split(".")[0] for m in proc.stderr.split()}
    assert not loaded & {"fastapi", "uvicorn", "starlette", "pydantic", "anyio"}


def test_serve_without_the_extra_says_how_to_install_it_exit_3(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    shim = tmp_path / "shim"
    (shim / "fastapi").mkdir(parents=True)
    (shim / "fastapi" / "__init__.py").write_text("raise ImportError('No module named fastapi')\n")
    env = {**os.environ, "PYTHONPATH": str(shim)}
    proc = artifactctl(repo, "serve", "--port", "0", env=env, timeout=60)
    assert proc.returncode == 3
    assert "FastAPI and uvicorn" in proc.stderr
    assert 'pip install "artifactctl[serve]"' in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_refuses_an_unknown_registry(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    proc = artifactctl(repo, "serve", "--registry", "team-b", timeout=60)
    assert proc.returncode == 2
    assert "unknown registry 'team-b'" in proc.stderr and "Traceback" not in proc.stderr


def test_a_port_in_use_is_one_line_and_exit_3(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = artifactctl(repo, "serve", "--port", str(port), timeout=60)
    assert proc.returncode == 3
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "hint: choose another --port" in proc.stderr and "Traceback" not in proc.stderr


def test_serve_outside_a_repository_is_exit_3(tmp_path: Path) -> None:
    proc = artifactctl(tmp_path, "serve", "--port", "0", timeout=60)
    assert proc.returncode == 3 and "not inside a DVC repository" in proc.stderr


# ----------------------------------------------- a real server, empty repository


def test_an_empty_repository_is_served_with_404_for_the_champion(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    with serving(repo, tmp_path / "server.log") as server:
        assert server.host == "127.0.0.1"
        assert server.get_json("/api/health")["ok"] is True
        assert server.get_json("/api/experiments") == {
            "schema": "artifactctl.list/1",
            "experiments": [],
        }
        assert server.get_json("/api/runs") == {"schema": "artifactctl.runs/1", "runs": []}
        none = server.request("/api/champion")
        assert none.status == 404 and none.json()["error"] == "there is no champion"
        page = server.request("/")
        assert page.status == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.body.count(b'<svg class="chart"') == 4 and b"no champion yet" in page.body
    assert "warning" not in server.log_text()


def test_another_host_prints_a_warning(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    with serving(repo, tmp_path / "server.log", "--host", "127.0.0.2") as server:
        assert server.host == "127.0.0.2"
        assert server.get_json("/api/health")["ok"] is True
    log = server.log_text()
    assert "warning: listening on 127.0.0.2" in log and "ARTIFACTCTL_SERVE_TOKEN" in log


def test_report_writes_one_static_page_with_escaped_text(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "params.yaml").write_text(
        "experiments:\n"
        "  v2-001:\n"
        "    phase: baseline\n"
        "    model: ridge\n"
        "    desc: <script>alert(1)</script>\n"
    )
    out = tmp_path / "out" / "report.html"
    proc = artifactctl(repo, "report", "--out", str(out), timeout=60)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert page.startswith("<!doctype html>") and page.count('<svg class="chart"') == 4
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "v2-001" in page and 'href="/docs"' not in page
    # nothing is loaded from anywhere: the only URL is the SVG namespace
    assert {u for u in _urls(page)} <= {"http://www.w3.org/2000/svg"}


def _urls(text: str) -> set[str]:
    import re

    return set(re.findall(r"https?://[^\s\"'<>)]+", text))


# ------------------------------------------------------------------ URL names


@pytest.mark.parametrize(
    "name", ["..", "../x", "a/../b", "/etc/passwd", "a//b", "a\\b", "a\x00b", ".", "", " a"]
)
def test_file_names_that_leave_their_folder_are_not_found(name: str) -> None:
    with pytest.raises(NotFound):
        relative_name(name)


def test_plain_file_names_and_ids_pass() -> None:
    assert relative_name("plots/residuals.csv") == "plots/residuals.csv"
    assert plain_name("v2-001", "experiment") == "v2-001"
    with pytest.raises(NotFound):
        plain_name("v2-001/..", "experiment")


@pytest.mark.parametrize(
    ("header", "size", "span"),
    [
        (None, 100, None),
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=90-", 100, (90, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-500", 100, (0, 99)),
        ("bytes=95-200", 100, (95, 99)),
        ("bytes=0-1,4-5", 100, None),  # several ranges: the whole file
        ("items=0-1", 100, None),
        ("bytes=9-3", 100, None),  # invalid: ignored
        ("bytes=abc", 100, None),
        ("bytes=0-9", 0, None),
    ],
)
def test_range_header_parsing(header: str | None, size: int, span: tuple | None) -> None:
    assert parse_range(header, size) == span


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0", "bytes=500-600"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, 100)


# -------------------------------------------------------------- verified files


def candidate(tmp_path: Path, rel: str, data: bytes | None, **expected: object) -> Candidate:
    folder = tmp_path / "folder"
    folder.mkdir(exist_ok=True)
    if data is not None:
        (folder / rel).write_bytes(data)
    md5 = hashlib.md5(data or b"").hexdigest()
    exp = Expected(**({"md5": md5} | expected))  # type: ignore[arg-type]
    return Candidate(rel, folder / rel, folder, tmp_path, exp)


def test_a_matching_file_opens_and_a_changed_one_does_not(tmp_path: Path) -> None:
    c = candidate(tmp_path, "a.bin", b"hello")
    f = open_verified(c)
    assert (f.size, f.md5, f.read(0, 100)) == (5, hashlib.md5(b"hello").hexdigest(), b"hello")
    assert f.unchanged()
    with open(c.path, "ab") as fh:
        fh.write(b"!")
    assert not f.unchanged()
    f.close()
    with pytest.raises(Mismatch, match="md5"):
        open_verified(c)
    sha = hashlib.sha256(b"hello!").hexdigest()
    with pytest.raises(Mismatch, match="recorded with 3"):
        open_verified(candidate(tmp_path, "a.bin", None, md5=None, sha256=sha, size=3))
    assert open_verified(candidate(tmp_path, "a.bin", None, md5=None, sha256=sha, size=6)).size == 6


def test_symlinks_out_fifos_and_missing_files_are_not_found(tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"x")
    c = candidate(tmp_path, "link.bin", None, md5=hashlib.md5(b"x").hexdigest())
    c.path.symlink_to(outside)
    with pytest.raises(NotFound, match="leads out"):
        open_verified(c)
    fifo = candidate(tmp_path, "fifo", None)
    os.mkfifo(fifo.path)
    with pytest.raises(NotFound, match="not a regular file"):
        open_verified(fifo)  # would block forever if it were opened for reading
    with pytest.raises(NotFound, match="not in the workspace"):
        open_verified(candidate(tmp_path, "absent.bin", None))
    # a folder that is itself a symlink out of the repository
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "f").write_bytes(b"x")
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "folder").symlink_to(tmp_path / "elsewhere")
    folder = tmp_path / "repo" / "folder"
    linked = Candidate("f", folder / "f", folder, tmp_path / "repo", Expected(md5=c.expected.md5))
    with pytest.raises(NotFound, match="leads out"):
        open_verified(linked)


def test_a_download_stops_before_sending_bytes_written_after_the_check(tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK)
    c = candidate(tmp_path, "big.bin", data)
    answer = FileAnswer(open_verified(c), "big.bin", {}, "GET")
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)
        if message.get("body"):  # a writer changes the file after the first chunk went out
            with open(c.path, "r+b") as fh:
                fh.write(b"X" * 10)

    async def receive() -> dict:
        return {"type": "http.request"}

    anyio.run(answer, {"type": "http"}, receive, send)
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert [len(m["body"]) for m in bodies] == [CHUNK]  # the first chunk only
    assert bodies[0]["body"] == data[:CHUNK] and bodies[0]["more_body"] is True
    assert answer.file.fd == -1  # closed


def test_error_documents_carry_a_schema() -> None:
    from artifactctl.serve.http import error_document

    doc = error_document(409, "x: not served", "restore it", file="x")
    assert json.loads(json.dumps(doc)) == {
        "schema": "artifactctl.error/1",
        "status": 409,
        "error": "x: not served",
        "hint": "restore it",
        "file": "x",
    }


def test_report_bad_input_is_one_line_never_a_traceback(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    missing = artifactctl(repo, "report", timeout=60)
    assert missing.returncode == 2 and "--out" in missing.stderr
    folder = tmp_path / "a-folder"
    folder.mkdir()
    onto_folder = artifactctl(repo, "report", "--out", str(folder), timeout=60)
    assert onto_folder.returncode in (2, 3), onto_folder.stderr
    assert "Traceback" not in onto_folder.stderr
    assert onto_folder.stderr.startswith("error:"), onto_folder.stderr
    assert folder.is_dir() and not any(folder.iterdir())
