"""Errors as RFC 9457 problem details (``application/problem+json``), each with a documented type.

Every problem's ``type`` is one of :data:`TYPES`, a URI reference with its full path
(``/problems/lock-busy``, as RFC 9457 recommends for relative ones) that the server itself documents
(``GET /problems/{slug}``; the list is in ``docs/api.md``). Library errors are mapped to types in one
place, :func:`problem_type_of`; routes raise :class:`Problem`. Nothing else reaches the client: an
unexpected exception becomes a generic ``internal-error`` whose body names no file, line or exception
text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.runner import RunStartError
from r2d2.errors import (
    CatalogError,
    ConfigError,
    EngineError,
    LakeError,
    NotFoundError,
    OperationBusyError,
    PathEscapeError,
    PlanError,
    R2D2Error,
    ReconstructError,
    SafetyError,
)

log = logging.getLogger("r2d2.api")

PROBLEM_JSON = "application/problem+json"
PROBLEM_SCHEMA: dict[str, Any] = {
    "description": "A problem detail (RFC 9457); `type` is documented at its URI.",
    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}},
}


@dataclass(frozen=True)
class ProblemType:
    """One kind of error the API answers with: its URI, status, title and what a client should do."""

    slug: str
    status: int
    title: str
    description: str

    @property
    def uri(self) -> str:
        return f"/problems/{self.slug}"


TYPES: dict[str, ProblemType] = {t.slug: t for t in (
    ProblemType("unauthorized", 401, "Authentication required",
                "The request has no bearer token, or its token is unknown or revoked. Send "
                "`Authorization: Bearer <token>` with a token from `r2d2 token create NAME --role ROLE`."),
    ProblemType("forbidden", 403, "Role too low",
                "The token is valid but its role may not do this (reader < operator < admin); `detail` names "
                "the role needed."),
    ProblemType("outside-lake-roots", 403, "Outside the lake roots",
                "A location in the request (or a table or parent the request would touch) is not under the "
                "server's configured lake roots (`R2D2_LAKE_ROOTS`), uses `..`, or the server has none. "
                "`field` names the offending input."),
    ProblemType("path-escape", 403, "Path leaves its root",
                "A table's real path leaves its scan root through a symbolic link; R2D2 never reads, moves or "
                "writes through it. `link` names the link."),
    ProblemType("not-found", 404, "Not found",
                "The table, plan, run, token or path does not exist (`detail` says which)."),
    ProblemType("method-not-allowed", 405, "Method not allowed", "The path exists but not with this method."),
    ProblemType("lock-busy", 409, "Operation in progress",
                "Another run, or another process sharing the catalog (CLI, batch job, API replica), holds "
                "the lock this operation needs: `lock` names it and `holder` says who holds it (operation, "
                "host, pid, started_at). Retry after the `Retry-After` seconds."),
    ProblemType("refused", 409, "Refused for safety",
                "A safety check failed and nothing was changed: the table has no usable recipe, its parent "
                "drifted, the rebuilt content does not match, or the table is not in the state the "
                "operation needs. `detail` gives the reason."),
    ProblemType("too-large", 413, "Too large",
                "The uploaded file is larger than the server handles in a request (`local_read_bytes`): put "
                "it in the lake and look it up by location."),
    ProblemType("invalid-request", 422, "Invalid request",
                "The request's parameters or body are invalid: `errors` lists each field (`field`, `in`, "
                "`message`)."),
    ProblemType("cannot-plan", 422, "Cannot plan",
                "The optimizer cannot build or solve a plan with these inputs (`detail` says why)."),
    ProblemType("operation-failed", 500, "Operation failed",
                "The library stopped the operation with a known error (a lake, engine or configuration "
                "problem); `detail` is its message. The server log has more."),
    ProblemType("internal-error", 500, "Internal error",
                "A bug: the server log has the traceback. The body says nothing more on purpose."),
    ProblemType("catalog-unavailable", 503, "Catalog unavailable",
                "The catalog database cannot be reached or queried; retry later."),
    ProblemType("run-not-started", 503, "Run not started",
                "The background run could not be started (the worker stopped or timed out); see the server "
                "log."),
    ProblemType("not-ready", 503, "Not ready",
                "The server cannot serve requests yet or any more: `checks` says which check failed "
                "(catalog, schema, run worker)."),
)}

#: The type of each status a route or the framework may answer without a more specific one.
BY_STATUS = {401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
             409: "refused", 413: "too-large", 422: "invalid-request", 500: "internal-error",
             503: "catalog-unavailable"}

#: Library errors, most specific first: the first class the error is an instance of gives its type.
ERROR_TYPES: tuple[tuple[type[R2D2Error], str], ...] = (
    (OperationBusyError, "lock-busy"),
    (PathEscapeError, "path-escape"),
    (NotFoundError, "not-found"),
    (PlanError, "cannot-plan"),
    (SafetyError, "refused"),
    (ReconstructError, "refused"),
    (CatalogError, "catalog-unavailable"),
    (LakeError, "operation-failed"),
    (EngineError, "operation-failed"),
    (ConfigError, "operation-failed"),
    (R2D2Error, "operation-failed"),
)


def problem_type_of(exc: R2D2Error) -> ProblemType:
    """The problem type of a library error (the one mapping of the error tree to HTTP)."""
    for cls, slug in ERROR_TYPES:
        if isinstance(exc, cls):
            return TYPES[slug]
    raise AssertionError("R2D2Error is the last entry")  # pragma: no cover


class Problem(Exception):
    """An error to return as a problem detail (``type``: a slug of :data:`TYPES`; default by status)."""

    def __init__(self, status: int, detail: str, *, type: str | None = None, title: str | None = None,
                 headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = TYPES[type or BY_STATUS.get(status, "internal-error")]
        self.title = title or self.type.title
        self.headers = dict(headers or {})
        self.extra = extra


def problem_response(status: int, detail: str, *, type: ProblemType | None = None, title: str | None = None,
                     instance: str | None = None, headers: Mapping[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    slug = BY_STATUS.get(status)
    kind = type or (TYPES[slug] if slug else None)
    body: dict[str, Any] = {"type": kind.uri if kind else "about:blank",
                            "title": title or (kind.title if kind else HTTPStatus(status).phrase),
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
        return problem_response(exc.status, exc.detail, type=exc.type, title=exc.title,
                                instance=request.url.path, headers=exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
        return problem_response(exc.status_code, detail, instance=request.url.path,
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors())
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        return problem_response(422, f"invalid request: {fields}", type=TYPES["invalid-request"],
                                instance=request.url.path, errors=errors)

    @app.exception_handler(R2D2Error)
    async def _library(request: Request, exc: R2D2Error) -> JSONResponse:
        kind = problem_type_of(exc)
        extra: dict[str, Any] = {}
        headers: dict[str, str] = {}
        detail = str(exc)
        if isinstance(exc, OperationBusyError):
            extra = {"lock": exc.lock, "holder": exc.holder}
            headers = {"Retry-After": "5"}
        elif isinstance(exc, PathEscapeError):
            extra = {"link": exc.link}
        elif isinstance(exc, CatalogError):
            log.error("catalog error on %s %s: %s", request.method, request.url.path, exc)
            detail = "the catalog is unavailable"  # its message names the database URL
        elif kind.slug == "operation-failed":
            log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
        return problem_response(kind.status, detail, type=kind, instance=request.url.path, headers=headers,
                                **extra)

    @app.exception_handler(RunStartError)
    async def _not_started(request: Request, exc: RunStartError) -> JSONResponse:
        log.error("run did not start on %s: %s", request.url.path, exc)
        return problem_response(503, "the run could not be started; see the server log",
                                type=TYPES["run-not-started"], instance=request.url.path)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "internal error; see the server log", type=TYPES["internal-error"],
                                instance=request.url.path)
