"""The FastAPI application: read-only routes over one repository.

Every route finds the repository and reads its state afresh (no cache that can
go stale while promote, rollback or pull change it), and answers JSON with a
``schema`` key; errors are JSON too: 404 unknown or outside its folder, 409 bytes
that fail verification, 503 the repository is locked (a champion copy being
rebuilt), 500 a repository artifactctl cannot read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response

from artifactctl.errors import ArtifactctlError, IntegrityError, LockHeld
from artifactctl.project import Project, find_repo
from artifactctl.serve import documents, sources
from artifactctl.serve.errors import NotFound, Refused
from artifactctl.serve.http import FileAnswer, Json, error_document, log

# The dashboard loads nothing: inline CSS and SVG only.
DASHBOARD_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def create_app(root: Path, token: str | None = None, registry: str | None = None) -> FastAPI:
    """The app over the repository at ``root``; ``registry``: the model family it serves
    (None: the default registry)."""
    from artifactctl import __version__

    app = FastAPI(
        title="artifactctl",
        version=__version__,
        summary="The artifact registry over HTTP, read-only.",
        default_response_class=Json,
        redoc_url=None,
    )

    def project() -> Project:
        return find_repo(root).with_registry(registry)

    _errors(app)
    _state_routes(app, project)
    _file_routes(app, project)

    @app.get("/", response_class=HTMLResponse, tags=["dashboard"])
    def dashboard() -> Response:
        """The dashboard: champion, experiments, promotion history, last promotion test."""
        from artifactctl.serve.dashboard import render

        headers = {"content-security-policy": DASHBOARD_CSP, "cache-control": "no-cache"}
        return HTMLResponse(render(project()), headers=headers)

    if token:
        from artifactctl.serve.auth import BearerToken

        app.add_middleware(BearerToken, token=token)
    return app


def _state_routes(app: FastAPI, project: Any) -> None:
    @app.get("/api/health", tags=["state"])
    def health() -> Any:
        """The server is up and the repository readable."""
        return documents.health(project())

    @app.get("/api/status", tags=["state"])
    def status() -> Any:
        """What `artifactctl status --json` says."""
        return documents.status(project())

    @app.get("/api/champion", tags=["registry"])
    def champion() -> Any:
        """The champion: ID, phase, metrics, its promotion, files with md5."""
        return documents.champion(project(), "champion")

    @app.get("/api/champion/previous", tags=["registry"])
    def previous() -> Any:
        """The previous champion (what `artifactctl rollback` would restore)."""
        return documents.champion(project(), "previous")

    @app.get("/api/experiments", tags=["registry"])
    def experiments(
        phase: str | None = Query(None, description="Only this phase."),
        sort: str | None = Query(None, description="Best first by this metric."),
    ) -> Any:
        """What `artifactctl list --json` says."""
        return documents.experiments(project(), phase, sort)

    @app.get("/api/experiments/{exp_id}", tags=["registry"])
    def experiment(exp_id: str) -> Any:
        """What `artifactctl show ID --json` says, with download links."""
        return documents.experiment(project(), exp_id)

    @app.get("/api/history", tags=["registry"])
    def history() -> Any:
        """The ledger, oldest event first (`artifactctl history --json`)."""
        return documents.history(project())

    @app.get("/api/promotion-tests/{candidate}/{baseline}", tags=["registry"])
    def promotion_test(candidate: str, baseline: str) -> Any:
        """The promotion test record `<candidate>_vs_<baseline>.json`."""
        return documents.promotion_test(project(), candidate, baseline)

    @app.get("/api/runs", tags=["runs"])
    def runs() -> Any:
        """Saved runs and test runs: paths, files with checksum state, metrics."""
        return documents.runs(project())

    @app.get("/api/runs/{run_id}", tags=["runs"])
    def run(run_id: str) -> Any:
        """One run (`artifactctl show-run ID --json`), with download links."""
        return documents.run(project(), run_id)


def _file_routes(app: FastAPI, project: Any) -> None:
    get_head = ["GET", "HEAD"]

    def answer(request: Request, file: Any, name: str) -> FileAnswer:
        return FileAnswer(file, name.rsplit("/", 1)[-1], request.headers, request.method)

    @app.api_route("/api/champion/files/{name:path}", methods=get_head, tags=["files"])
    def champion_file(request: Request, name: str) -> Any:
        """A champion file, verified against the ledger's md5 (409 if it cannot be)."""
        return answer(request, sources.champion_file(project(), "champion", name), name)

    @app.api_route("/api/champion/previous/files/{name:path}", methods=get_head, tags=["files"])
    def previous_file(request: Request, name: str) -> Any:
        """A previous champion's file, verified against the ledger's md5."""
        return answer(request, sources.champion_file(project(), "previous", name), name)

    @app.api_route("/api/experiments/{exp_id}/files/{name:path}", methods=get_head, tags=["files"])
    def experiment_file(request: Request, exp_id: str, name: str) -> Any:
        """An experiment's file, verified against the md5 DVC recorded."""
        return answer(request, sources.experiment_file(project(), exp_id, name), name)

    @app.api_route("/api/runs/{run_id}/files/{name:path}", methods=get_head, tags=["files"])
    def run_file(request: Request, run_id: str, name: str) -> Any:
        """A run's file, verified against its manifest's sha256 and size."""
        return answer(request, sources.run_file(project(), run_id, name), name)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ArtifactctlError)
    def library_error(request: Request, exc: ArtifactctlError) -> Response:
        extra: dict[str, Any] = {}
        headers = None
        if isinstance(exc, NotFound):
            code = 404
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
