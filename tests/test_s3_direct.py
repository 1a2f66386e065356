"""Direct signed GETs from S3 (``sync/s3_direct.py``): the signature botocore would make,
accepted and checked by a real S3 server, used only when botocore's own request needs
nothing more, and handed back to botocore when they fail."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from s3server import S3Server
from support import dvc, git, init_repo

from artifactctl.sync import s3_direct
from artifactctl.sync.fetch_s3 import fetch_s3
from artifactctl.sync.s3_direct import EMPTY_SHA256, Direct, Learner

HOSTS = ["127.0.0.1:8333", "s3.eu-west-1.amazonaws.com", "b.minio.example:9000", "h.example:80"]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
text = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https"]),
    host=st.sampled_from(HOSTS),
    key=text,
    region=st.sampled_from(REGIONS),
    access=st.text(st.characters(min_codepoint=48, max_codepoint=90), min_size=4, max_size=20),
    secret=text,
    token=st.none() | text,
    seconds=st.integers(0, 10**9),
    body=st.none() | st.binary(max_size=64),
)
def test_signature_is_the_one_botocore_makes(
    scheme: str,
    host: str,
    key: str,
    region: str,
    access: str,
    secret: str,
    token: str | None,
    seconds: int,
    body: bytes | None,
) -> None:
    """A GET (``body`` None) or a PUT of ``body`` with its Content-MD5."""
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import ReadOnlyCredentials

    now = datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(0, seconds)
    credentials = ReadOnlyCredentials(access, secret, token)
    path = f"/bucket/{quote(key, safe='/~')}"  # botocore quotes keys so
    url = f"{scheme}://{host}{path}"
    direct = Direct(f"{scheme}://{host}/bucket/", region, "s3", None, 60, 60)
    if body is None:
        ours = direct.sign("GET", path, credentials, now, {}, EMPTY_SHA256)
        request = AWSRequest(method="GET", url=url)
    else:
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        payload = hashlib.sha256(body).hexdigest()
        ours = direct.sign("PUT", path, credentials, now, {"content-md5": md5}, payload)
        request = AWSRequest(method="PUT", url=url, data=body, headers={"Content-MD5": md5})
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: now.replace(tzinfo=None)
    try:
        botocore.auth.S3SigV4Auth(credentials, "s3", region).add_auth(request)
    finally:
        botocore.auth.get_current_datetime = original
    assert {k.lower(): v for k, v in ours.items()} == {
        k.lower(): v for k, v in request.headers.items()
    }


@pytest.mark.parametrize(
    "url, headers",
    [
        ("http://h/b/ab/cd", {"authorization": "AWS4-HMAC-SHA256 x", "x-amz-request-payer": "r"}),
        (
            "http://h/b/ab/cd",
            {
                "authorization": "AWS4-HMAC-SHA256 x",
                "x-amz-server-side-encryption-customer-key": "k",
            },
        ),
        ("http://h/b/ab/cd?versionId=1", {"authorization": "AWS4-HMAC-SHA256 x"}),
        ("http://h/b/ab/cd", {"authorization": "AWS AKID:signature-v2"}),
        ("http://h/b/ab/cd", {}),  # anonymous
        ("http://h/b/zz/cd", {"authorization": "AWS4-HMAC-SHA256 x"}),  # another key
    ],
)
def test_requests_that_need_more_than_a_plain_signed_get_keep_botocore(
    url: str, headers: dict[str, str]
) -> None:
    learner = Learner(client=None)
    learner(SimpleNamespace(url=url, headers=headers))
    assert learner.direct("ab/cd") is None


# -- against a real S3 server ------------------------------------------------------------

PREFIX_CHARS = "with space/a+b=c,d"  # a remote folder whose key needs quoting


def cached_repo(tmp_path: Path, server: S3Server, files: int) -> tuple[Path, list[str]]:
    """A repository with ``files`` small objects in its cache, an empty S3 prefix (with
    characters that need quoting) as its remote. Returns it and the md5s (``.dir`` too)."""
    repo = init_repo(tmp_path / "repo")
    server.configure_remote(repo, "s3", f"p-{uuid.uuid4().hex[:8]}/{PREFIX_CHARS}")
    data = repo / "data"
    data.mkdir()
    for i in range(files):
        (data / f"f{i:03d}.bin").write_bytes(os.urandom(512 + i))
    dvc(repo, "add", "-q", "data")
    objects = repo / ".dvc" / "cache" / "files" / "md5"
    return repo, sorted(p.parent.name + p.name for p in objects.glob("*/*"))


def pushed_repo(tmp_path: Path, server: S3Server, files: int) -> tuple[Path, list[str]]:
    """``cached_repo`` whose objects DVC itself pushed, its cache emptied."""
    repo, md5s = cached_repo(tmp_path, server, files)
    dvc(repo, "push", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    shutil.rmtree(repo / ".dvc" / "cache")
    return repo, md5s


def fetch(repo: Path, md5s: list[str], caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """fetch_s3 into the repository's cache; every fetched object checked by hashing it."""
    cache = repo / ".dvc" / "cache"
    with caplog.at_level(logging.DEBUG, logger="artifactctl.sync"):
        result = fetch_s3(repo, "s3", cache, md5s)
    for md5 in result.done:
        blob = (cache / "files" / "md5" / md5[:2] / md5[2:]).read_bytes()
        assert hashlib.md5(blob).hexdigest() == md5.removesuffix(".dir")
    return result.failed | {m: "" for m in result.done}


@pytest.mark.slow
def test_missing_objects_are_named_and_direct_gets_stay_on(
    s3_server: S3Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo, md5s = pushed_repo(tmp_path, s3_server, 20)
    absent = ["0" * 32, "f" * 32]  # the first sorted: its 404 is the request learnt from
    outcome = fetch(repo, md5s + absent, caplog)
    assert {m: outcome[m] for m in absent} == {m: "missing on the remote" for m in absent}
    assert all(outcome[m] == "" for m in md5s)
    assert "direct GETs off" not in caplog.text
    assert f"direct GETs: {len(md5s)} of {len(md5s) + 2} objects" in caplog.text


def test_a_proxy_in_the_environment_keeps_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    config = SimpleNamespace(connect_timeout=60, read_timeout=60)
    signer = SimpleNamespace(_credentials=object())  # what a botocore client holds
    client = SimpleNamespace(_request_signer=signer, meta=SimpleNamespace(config=config))
    learner = Learner(client)
    auth = "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, Signed"
    learner(SimpleNamespace(url="http://s3.example:9000/b/ab/cd", headers={"Authorization": auth}))
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert learner.direct("ab/cd") is None
    monkeypatch.setenv("no_proxy", "s3.example")
    assert learner.direct("ab/cd") is not None


def push(repo: Path, md5s: list[str], caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """Our uploader's send of ``md5s``; then DVC itself must find every object on the remote."""
    from artifactctl.sync.upload_s3 import S3Uploader

    with (
        caplog.at_level(logging.DEBUG, logger="artifactctl.sync"),
        S3Uploader(repo, "s3", repo / ".dvc" / "cache") as uploader,
    ):
        result = uploader.send(md5s)
    status = dvc(repo, "status", "-c", "--json").stdout
    assert json.loads(status or "{}") == {}, status  # DVC sees every object pushed
    return result.failed | {m: "" for m in result.done}


def transfer(
    method: str, tmp_path: Path, server: S3Server, caplog: pytest.LogCaptureFixture
) -> tuple[dict[str, str], list[str]]:
    """30 objects fetched (GET) or pushed (PUT) by our engine: outcome by md5, and the md5s."""
    if method == "GET":
        repo, md5s = pushed_repo(tmp_path, server, 30)
        return fetch(repo, md5s, caplog), md5s
    repo, md5s = cached_repo(tmp_path, server, 30)
    return push(repo, md5s, caplog), md5s


@pytest.mark.slow
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_objects_after_the_first_go_by_direct_requests(
    method: str, s3_server: S3Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outcome, md5s = transfer(method, tmp_path, s3_server, caplog)
    assert outcome == {m: "" for m in md5s}
    assert f"direct {method}s: {len(md5s) - 1} of {len(md5s)} objects" in caplog.text
    assert f"direct {method}s off" not in caplog.text


@pytest.mark.slow
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_the_server_checks_the_signature_and_botocore_takes_over(
    method: str,
    s3_server: S3Server,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sign = Direct.sign

    def wrong(self: Direct, *args: object) -> dict[str, str]:
        headers = sign(self, *args)
        headers["Authorization"] = headers["Authorization"][:-8] + "00000000"
        return headers

    monkeypatch.setattr(s3_direct.Direct, "sign", wrong)
    outcome, md5s = transfer(method, tmp_path, s3_server, caplog)
    assert outcome == {m: "" for m in md5s}
    assert f"direct {method}s off: HTTP 403" in caplog.text
