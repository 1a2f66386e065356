"""The FastAPI application: read-only routes over one repository.

Every route finds the repository and reads its state afresh (no cache that can
go stale while promote, rollback or pull change it), and answers JSON with a
``schema`` key; errors are JSON too: 404 unknown or outside its folder, 409 bytes
that fail verification, 503 the repository is locked (a champion copy being
rebuilt), 500 a repository artifactctl cannot read. Every route takes
``?registry=NAME`` (``serve/registries.py``): one server answers for every model family.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response

from artifactctl.errors import ArtifactctlError, IntegrityError, LockHeld
from artifactctl.project import Project, find_repo
from artifactctl.serve import documents, registries, sources
from artifactctl.serve.errors import BadRequest, NotFound, Refused
from artifactctl.serve.http import FileAnswer, Json, error_document, log

# The dashboard loads nothing: inline CSS and SVG only.
DASHBOARD_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def create_app(root: Path, token: str | None = None, registry: str | None = None) -> FastAPI:
    """The app over the repository at ``root``; ``registry``: the model family a request
    that names none reads (None: the repository's default)."""
    from artifactctl import __version__

    app = FastAPI(
        title="artifactctl",
        version=__version__,
        summary="The artifact registry over HTTP, read-only.",
        default_response_class=Json,
        redoc_url=None,
    )

    def project(
        asked: str | None = Query(
            None,
            alias="registry",
            description="The registry (model family) to read; GET /api/registries lists them.",
        ),
    ) -> Project:
        return registries.for_request(find_repo(root), asked, registry)

    def repository() -> Project:  # for what covers every registry at once
        return find_repo(root)

    _errors(app)
    _state_routes(app, Depends(repository), Depends(project))
    _file_routes(app, Depends(repository), Depends(project))

    @app.get("/api/registries", tags=["registry"])
    def registry_list() -> Any:
        """The registries (model families), each with its champion and links."""
        return documents.registry_list(find_repo(root), registry)

    @app.get("/", response_class=HTMLResponse, tags=["dashboard"])
    def dashboard(
        asked: str | None = Query(None, alias="registry", description="The registry to show."),
    ) -> Response:
        """The dashboard: champion, experiments, promotion history, last promotion test."""
        from artifactctl.serve.dashboard import render

        repo = find_repo(root)
        try:
            chosen = registries.for_request(repo, asked, registry)
        except BadRequest:  # several families, none named: a person gets the first
            chosen = registries.select(repo, registries.names(repo)[0])
        headers = {"content-security-policy": DASHBOARD_CSP, "cache-control": "no-cache"}
        return HTMLResponse(render(chosen), headers=headers)

    if token:
        from artifactctl.serve.auth import BearerToken

        app.add_middleware(BearerToken, token=token)
    return app


def _state_routes(app: FastAPI, repo: Any, chosen: Any) -> None:
    @app.get("/api/health", tags=["state"])
    def health(project: Project = repo) -> Any:
        """The server is up and the repository readable."""
        return documents.health(project)

    @app.get("/api/status", tags=["state"])
    def status(project: Project = repo) -> Any:
        """What `artifactctl status --json` says."""
        return documents.status(project)

    @app.get("/api/champion", tags=["registry"])
    def champion(project: Project = chosen) -> Any:
        """The champion: ID, phase, metrics, its promotion, files with md5."""
        return documents.champion(project, "champion")

    @app.get("/api/champion/previous", tags=["registry"])
    def previous(project: Project = chosen) -> Any:
        """The previous champion (what `artifactctl rollback` would restore)."""
        return documents.champion(project, "previous")

    @app.get("/api/experiments", tags=["registry"])
    def experiments(
        phase: str | None = Query(None, description="Only this phase."),
        sort: str | None = Query(None, description="Best first by this metric."),
        project: Project = chosen,
    ) -> Any:
        """What `artifactctl list --json` says."""
        return documents.experiments(project, phase, sort)

    @app.get("/api/experiments/{exp_id}", tags=["registry"])
    def experiment(exp_id: str, project: Project = chosen) -> Any:
        """What `artifactctl show ID --json` says, with download links."""
        return documents.experiment(project, exp_id)

    @app.get("/api/history", tags=["registry"])
    def history(project: Project = chosen) -> Any:
        """The ledger, oldest event first (`artifactctl history --json`)."""
        return documents.history(project)

    @app.get("/api/promotion-tests/{candidate}/{baseline}", tags=["registry"])
    def promotion_test(candidate: str, baseline: str, project: Project = chosen) -> Any:
        """The promotion test record `<candidate>_vs_<baseline>.json`."""
        return documents.promotion_test(project, candidate, baseline)

    @app.get("/api/runs", tags=["runs"])
    def runs(project: Project = repo) -> Any:
        """Saved runs and test runs: paths, files with checksum state, metrics."""
        return documents.runs(project)

    @app.get("/api/runs/{run_id}", tags=["runs"])
    def run(run_id: str, project: Project = repo) -> Any:
        """One run (`artifactctl show-run ID --json`), with download links."""
        return documents.run(project, run_id)


def _file_routes(app: FastAPI, repo: Any, chosen: Any) -> None:
    get_head = ["GET", "HEAD"]

    def answer(request: Request, file: Any, name: str) -> FileAnswer:
        return FileAnswer(file, name.rsplit("/", 1)[-1], request.headers, request.method)

    @app.api_route("/api/champion/files/{name:path}", methods=get_head, tags=["files"])
    def champion_file(request: Request, name: str, project: Project = chosen) -> Any:
        """A champion file, verified against the ledger's md5 (409 if it cannot be)."""
        return answer(request, sources.champion_file(project, "champion", name), name)

    @app.api_route("/api/champion/previous/files/{name:path}", methods=get_head, tags=["files"])
    def previous_file(request: Request, name: str, project: Project = chosen) -> Any:
        """A previous champion's file, verified against the ledger's md5."""
        return answer(request, sources.champion_file(project, "previous", name), name)

    @app.api_route("/api/experiments/{exp_id}/files/{name:path}", methods=get_head, tags=["files"])
    def experiment_file(request: Request, exp_id: str, name: str, project: Project = chosen) -> Any:
        """An experiment's file, verified against the md5 DVC recorded."""
        return answer(request, sources.experiment_file(project, exp_id, name), name)

    @app.api_route("/api/runs/{run_id}/files/{name:path}", methods=get_head, tags=["files"])
    def run_file(request: Request, run_id: str, name: str, project: Project = repo) -> Any:
        """A run's file, verified against its manifest's sha256 and size."""
        return answer(request, sources.run_file(project, run_id, name), name)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ArtifactctlError)
    def library_error(request: Request, exc: ArtifactctlError) -> Response:
        extra: dict[str, Any] = {}
        headers = None
        if isinstance(exc, NotFound):
            code = 404
        elif isinstance(exc, BadRequest):
            code = 400
        elif isinstance(exc, Refused):
            code, extra = 409, {"file": exc.file}
        elif isinstance(exc, IntegrityError):
            code = 409
        elif isinstance(exc, LockHeld):
            code, headers = 503, {"retry-after": "2"}
        else:  # the repository cannot be read as it is (a malformed file, bad settings)
            code = 500
        if code >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return Json(error_document(code, str(exc), exc.hint, **extra), code, headers)

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> Response:
        message = "no such resource" if exc.status_code == 404 else str(exc.detail)
        return Json(error_document(exc.status_code, message), exc.status_code, exc.headers)

    @app.exception_handler(RequestValidationError)
    def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return Json(error_document(422, "invalid request parameters"), 422)

    @app.exception_handler(Exception)
    def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path)
        message = f"internal error: {type(exc).__name__}"
        return Json(error_document(500, message, "see the server's log"), 500)
