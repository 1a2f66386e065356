"""A friendly layer over DVC's remote config: list, add (credentials to config.local), default.

Credentials never go to the git-tracked ``.dvc/config``: they are written with
DVC's own config editor at the ``local`` level (``.dvc/config.local``, which
DVC git-ignores).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from artifactctl.dvc.config import remotes
from artifactctl.errors import UsageError
from artifactctl.project import Project

SCHEMA = "artifactctl.remotes/1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SECRET_OPTIONS = ("access_key_id", "secret_access_key", "session_token", "password")


@dataclass
class RemoteInfo:
    name: str
    url: str
    default: bool
    kind: str  # local | s3 | other scheme
    endpoint: str | None
    credentials: str  # "config.local" | "environment/none"


@dataclass
class RemoteListing:
    remotes: list[RemoteInfo]

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "remotes": [asdict(r) for r in self.remotes]}


def list_remotes(project: Project) -> RemoteListing:
    out = []
    for r in remotes(project.root):
        kind = "local" if r.is_local else r.url.split("://", 1)[0]
        has_secret = any(k in r.options for k in SECRET_OPTIONS)
        out.append(
            RemoteInfo(
                r.name,
                r.url,
                r.is_default,
                kind,
                r.options.get("endpointurl"),
                "config.local" if has_secret else "environment/none",
            )
        )
    return RemoteListing(out)


def validate_remote_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(
            f"invalid remote name {name!r}",
            hint="use letters, digits, '-' and '_' (up to 64), starting with a letter or digit",
        )
    return name


def add_remote(
    project: Project,
    name: str,
    url: str,
    *,
    endpoint_url: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    region: str | None = None,
    default: bool = False,
    force: bool = False,
) -> RemoteInfo:
    from artifactctl.dvc.repo import edit_config

    validate_remote_name(name)
    if not url.strip():
        raise UsageError("the remote URL is empty")
    if any(r.name == name for r in remotes(project.root)) and not force:
        raise UsageError(f"remote {name!r} already exists", hint="pass --force to replace it")
    if (access_key_id is None) != (secret_access_key is None):
        raise UsageError("give both --access-key-id and --secret-access-key, or neither")
    tracked: dict[str, str] = {"url": url}
    if endpoint_url:
        tracked["endpointurl"] = endpoint_url
    if region:
        tracked["region"] = region
    edit_config(project.root, "repo", {f"remote.{name}": tracked})
    if access_key_id is not None:
        secrets = {"access_key_id": access_key_id, "secret_access_key": secret_access_key}
        edit_config(project.root, "local", {f"remote.{name}": secrets})
    if default:
        set_default(project, name)
    return next(r for r in list_remotes(project).remotes if r.name == name)


def set_default(project: Project, name: str) -> str:
    from artifactctl.dvc.repo import edit_config

    known = [r.name for r in remotes(project.root)]
    if name not in known:
        raise UsageError(
            f"unknown remote {name!r} (configured: {', '.join(known) or 'none'})",
            hint="`artifactctl remote list` shows the remotes; `artifactctl remote add` adds one",
        )
    edit_config(project.root, "repo", {"core": {"remote": name}})
    return name
