"""Errors as RFC 7807 problem details (``application/problem+json``), for every status.

Routes raise :class:`Problem` (or a library error mapped below); nothing else reaches the client:
an unexpected exception becomes a generic 500 whose body names no file, line or exception text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.runner import RunStartError
from r2d2.errors import (
    CatalogError,
    NotFoundError,
    OperationBusyError,
    PathEscapeError,
    PlanError,
    ReconstructError,
    SafetyError,
)

log = logging.getLogger("r2d2.api")

PROBLEM_JSON = "application/problem+json"
PROBLEM_SCHEMA: dict[str, Any] = {
    "description": "A problem detail (RFC 7807).",
    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}},
}


class Problem(Exception):
    """An error to return as a problem detail."""

    def __init__(self, status: int, detail: str, *, title: str | None = None,
                 headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        self.extra = extra


def problem_response(status: int, detail: str, *, title: str | None = None, instance: str | None = None,
                     headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title or HTTPStatus(status).phrase,
                            "status": status, "detail": detail}
    if instance is not None:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


def _field(loc: Sequence[Any]) -> str:
    """``("query", "limit")`` → ``limit``; ``("body", "roots", 0)`` → ``roots[0]``."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else loc)
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def validation_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"field": _field(e.get("loc", ())), "in": str(e["loc"][0]) if e.get("loc") else "body",
             "message": str(e.get("msg", "invalid"))} for e in errors]


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem detail."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, title=exc.title, instance=request.url.path,
                                headers=exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
        return problem_response(exc.status_code, detail, instance=request.url.path,
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors())
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        return problem_response(422, f"invalid request: {fields}", instance=request.url.path,
                                errors=errors)

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return problem_response(404, str(exc), instance=request.url.path)

    @app.exception_handler(PlanError)
    async def _plan(request: Request, exc: PlanError) -> JSONResponse:
        return problem_response(422, str(exc), instance=request.url.path)

    @app.exception_handler(SafetyError)
    @app.exception_handler(ReconstructError)
    async def _refused(request: Request, exc: SafetyError | ReconstructError) -> JSONResponse:
        return problem_response(409, str(exc), instance=request.url.path)

    @app.exception_handler(PathEscapeError)
    async def _escape(request: Request, exc: PathEscapeError) -> JSONResponse:
        return problem_response(403, str(exc), instance=request.url.path, link=exc.link)

    @app.exception_handler(OperationBusyError)
    async def _busy(request: Request, exc: OperationBusyError) -> JSONResponse:
        return problem_response(409, str(exc), instance=request.url.path, headers={"Retry-After": "5"},
                                lock=exc.lock, holder=exc.holder)

    @app.exception_handler(RunStartError)
    async def _not_started(request: Request, exc: RunStartError) -> JSONResponse:
        log.error("run did not start on %s: %s", request.url.path, exc)
        return problem_response(503, "the run could not be started; see the server log",
                                instance=request.url.path)

    @app.exception_handler(CatalogError)
    async def _catalog(request: Request, exc: CatalogError) -> JSONResponse:
        log.error("catalog error on %s %s: %s", request.method, request.url.path, exc)
        return problem_response(503, "the catalog is unavailable", instance=request.url.path)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "internal error; see the server log", instance=request.url.path)
