"""Which registries (model families) one server answers for, and choosing one per request.

A request names its registry with ``?registry=NAME``; without it, the server's
``--registry`` applies, and with neither the repository's default (a repository
of several families with no default has none: 400 naming them). ``default`` names the
``[tool.artifactctl.registry]`` table unless a family is called so.
"""

from __future__ import annotations

from urllib.parse import quote

from artifactctl.config import Registry
from artifactctl.errors import UsageError
from artifactctl.project import Project
from artifactctl.serve.errors import BadRequest, NotFound

DEFAULT = "default"


def names(project: Project) -> list[str]:
    """The registries of the repository, as the API names them."""
    named = sorted(project.settings.registries)
    table_in_use = not named or project.settings.registry != Registry()
    return ([DEFAULT] if table_in_use and DEFAULT not in named else []) + named


def select(project: Project, name: str | None) -> Project:
    """``project`` with the registry ``name`` (the CLI's and the API's spelling) selected."""
    if name == DEFAULT and DEFAULT not in project.settings.registries:
        name = ""
    return project.with_registry(name)


def for_request(project: Project, asked: str | None, default: str | None) -> Project:
    """The registry a request reads: the one it asked for, else the server's."""
    try:
        return select(project, asked if asked is not None else default)
    except UsageError as exc:
        listed = ", ".join(names(project))
        if asked is not None:
            raise NotFound(f"unknown registry {asked!r} (registries: {listed})") from None
        raise BadRequest(
            f"this repository has several registries ({listed})",
            hint="name one with ?registry=NAME (GET /api/registries lists them)",
        ) from exc


def query(project: Project) -> str:
    """``?registry=NAME`` for links that must stay in the selected registry ('' for none)."""
    chosen = project.selected_registry
    if chosen is None:
        return ""
    return f"?registry={quote(chosen or DEFAULT)}"
